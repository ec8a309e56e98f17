"""The base class of every error code (the codes themselves live in the sibling modules)."""

from __future__ import annotations

from typing import ClassVar

DetailValue = str | int | float | bool | None | list[str]


class TatorError(Exception):
    """Base of every error a service raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **details: DetailValue) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
