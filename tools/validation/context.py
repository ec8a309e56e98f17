"""What every validation row receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class ValidationContext:
    base_url: str
    http: httpx.Client
    workdir: Path
    # what a row leaves for later rows (e.g. a trained run id); rows run in module order
    shared: dict[str, Any] = field(default_factory=dict)


RowCheck = Callable[[ValidationContext], str]
Row = tuple[str, str, RowCheck]
