"""What every validation row receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class ValidationContext:
    base_url: str
    http: httpx.Client
    workdir: Path


RowCheck = Callable[[ValidationContext], str]
Row = tuple[str, str, RowCheck]
