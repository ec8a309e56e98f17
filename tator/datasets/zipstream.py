"""Zip archives produced while they are sent: memory stays at about one chunk, nothing is staged on disk."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

CHUNK = 1024 * 1024
DEFLATE_SUFFIXES = frozenset({".txt", ".json", ".jsonl", ".csv", ".yaml", ".yml", ".xml"})


class _Sink:
    """A write-only, unseekable stream: zipfile then writes data descriptors and never seeks back."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def stream_zip(files: Iterable[tuple[Path, str]]) -> Iterator[bytes]:
    """Chunks of a zip holding each (file, arcname); text is deflated, everything else stored
    (images are already compressed)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:
        for path, arcname in files:
            info = zipfile.ZipInfo.from_file(path, arcname)
            deflate = path.suffix.lower() in DEFLATE_SUFFIXES
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            with open(path, "rb") as src, zf.open(info, "w") as dest:
                while chunk := src.read(CHUNK):
                    dest.write(chunk)
                    if len(sink.buffer) >= CHUNK:
                        yield sink.take()
            if sink.buffer:
                yield sink.take()
    if sink.buffer:
        yield sink.take()
