"""A streaming multipart/form-data receiver: the one file part goes straight to disk, in bounded bytes.

Fed chunk by chunk (`feed`), it never holds more than one chunk of the file in memory; text fields are
capped in size and number. HTTP-agnostic: the web layer passes the boundary and the body chunks.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from tator.errors import MultipartInvalid, UploadContentTypeInvalid, UploadTooLarge

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type header, else UploadContentTypeInvalid."""
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadContentTypeInvalid("send the upload as multipart/form-data with a 'file' part")
    return boundary


@dataclass
class ReceivedForm:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None
    size: int = 0


class MultipartReceiver:
    """Parses a multipart body; the part named `file_field` is written to `dest` (at most `max_file_bytes`)."""

    def __init__(self, boundary: bytes, dest: Path, *, max_file_bytes: int, file_field: str = "file") -> None:
        self.form = ReceivedForm()
        self._dest = dest
        self._max = max_file_bytes
        self._file_field = file_field
        self._headers: dict[bytes, bytes] = {}
        self._name: bytes = b""
        self._value: bytes = b""
        self._field: str | None = None
        self._buffer = bytearray()
        self._out: BinaryIO | None = None
        self._done = False
        callbacks = {
            "on_part_begin": self._part_begin, "on_part_data": self._part_data, "on_part_end": self._part_end,
            "on_header_field": self._header_field, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_finished, "on_end": self._end,
        }  # fmt: skip
        self._parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def feed(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except MultipartParseError as exc:
            raise MultipartInvalid(f"malformed multipart body: {exc}") from exc

    def finish(self) -> ReceivedForm:
        """The parsed form once the body is complete; a truncated body raises MultipartInvalid."""
        self.close()
        if not self._done:
            raise MultipartInvalid("the multipart body ended early")
        return self.form

    def close(self) -> None:
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None

    # --- parser callbacks -------------------------------------------------------------------------
    def _part_begin(self) -> None:
        self._headers, self._field, self._buffer = {}, None, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            if name != self._file_field or self.form.path is not None:
                raise MultipartInvalid(f"unexpected file part {name[:64]!r}; send exactly one '{self._file_field}'")
            self.form.filename = options[b"filename"].decode("utf-8", "replace")
            self.form.path = self._dest
            self._out = open(self._dest, "xb")  # noqa: SIM115 - closed in _part_end / close()
            return
        if len(self.form.fields) >= MAX_FIELDS:
            raise MultipartInvalid(f"more than {MAX_FIELDS} form fields")
        self._field = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None:
            self.form.size += end - start
            if self.form.size > self._max:
                raise UploadTooLarge(f"upload exceeds the limit of {self._max} bytes", limit_bytes=self._max)
            self._out.write(data[start:end])
            return
        self._buffer += data[start:end]
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise MultipartInvalid(f"form field {self._field!r} is over {MAX_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if self._out is not None:
            self.close()
        elif self._field is not None:
            try:
                self.form.fields[self._field] = self._buffer.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MultipartInvalid(f"form field {self._field!r} is not UTF-8") from exc

    def _end(self) -> None:
        self._done = True
