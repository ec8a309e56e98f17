"""Dataset upload benchmark: a ~1 GiB YOLO dataset zip uploaded to a real server process.

    python tools/bench/upload.py [--gib 1.0] [--format png|jpeg] [--write-docs]

Builds a zip of incompressible images (random-noise PNGs, or noisy JPEGs with --format jpeg; stored, labels
deflated) in a temp dir, starts `python -m tator` on a free 127.0.0.1 port with TATOR_DATA_DIR in that temp
dir, and measures in the same run:
- the server's resident memory (VmRSS from /proc/<pid>/status, sampled every 20 ms) before and during the
  upload: growth must stay under 200 MiB;
- the upload's wall time (client side: request sent -> dataset created, which includes streaming the body
  to disk, the safety checks, extraction and decoding every image) against two baselines on the same file:
  Info-ZIP `unzip -q` and Python `zipfile.ZipFile.extractall`. Target: within 2x of `unzip`.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
HEADING = "## Dataset upload (issue 3)"
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _image(rng: np.random.Generator, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "png":
        Image.fromarray(rng.integers(0, 256, size=(512, 512, 3), dtype=np.uint8)).save(buffer, "PNG", compress_level=1)
    else:
        base = np.linspace(0, 255, 1280)[None, :, None] + rng.normal(0, 40, size=(720, 1280, 3))
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def build_zip(path: Path, target_bytes: int, fmt: str) -> tuple[int, int]:
    """A YOLO split dataset zip of about `target_bytes` (every image distinct). Returns (images, bytes)."""
    rng = np.random.default_rng(0)
    suffix = "png" if fmt == "png" else "jpg"
    count = size = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("bench/labelmap.txt", "noise\nblob\n", compress_type=zipfile.ZIP_DEFLATED)
        while size < target_bytes:
            split = "val" if count % 10 == 9 else "train"
            data = _image(rng, fmt)
            zf.writestr(f"bench/{split}/images/img_{count:06d}.{suffix}", data)
            label = f"{count % 2} 0.5 0.5 0.25 0.25\n1 0.2 0.3 0.1 0.1\n"
            zf.writestr(f"bench/{split}/labels/img_{count:06d}.txt", label, compress_type=zipfile.ZIP_DEFLATED)
            count += 1
            size += len(data)
    return count, path.stat().st_size


def time_unzip(archive: Path, scratch: Path) -> float:
    dest = scratch / "unzip-out"
    started = time.perf_counter()
    subprocess.run(["unzip", "-q", str(archive), "-d", str(dest)], check=True)
    elapsed = time.perf_counter() - started
    shutil.rmtree(dest)
    return elapsed


def time_zipfile(archive: Path, scratch: Path) -> float:
    dest = scratch / "zipfile-out"
    started = time.perf_counter()
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    elapsed = time.perf_counter() - started
    shutil.rmtree(dest)
    return elapsed


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _upload(base: str, archive: Path, dataset_id: str) -> dict[str, object]:
    with open(archive, "rb") as handle, httpx.Client(base_url=base, timeout=3600) as client:
        files = {"file": (archive.name, handle, "application/zip")}
        response = client.post("/datasets/upload", files=files, data={"dataset_id": dataset_id})
    response.raise_for_status()
    return dict(response.json())


@dataclass
class Result:
    images: int
    zip_bytes: int
    unzip_s: float
    zipfile_s: float
    upload_s: float
    rss_before: int
    rss_peak: int
    ingest_log: str


def run_server_upload(archive: Path, scratch: Path, warmup: Path) -> tuple[float, int, int, str]:
    port = free_port()
    env = {**os.environ, "TATOR_DATA_DIR": str(scratch / "data"), "TATOR_PORT": str(port), "TATOR_DEVICE": "cpu",
           "TATOR_LOG_LEVEL": "INFO", "TATOR_MAX_UPLOAD_BYTES": str(8 * 1024 * MiB)}  # fmt: skip
    log_path = scratch / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "tator"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        _upload(base, warmup, "warmup")  # imports PIL plugins etc., so growth counts the upload only
        time.sleep(1.0)
        with RssSampler(server.pid) as sampler:
            before = sampler.peak
            started = time.perf_counter()
            meta = _upload(base, archive, "bench")
            elapsed = time.perf_counter() - started
        assert meta["id"] == "bench", meta
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    lines = [line for line in log_path.read_text().splitlines() if "dataset.uploaded id=bench" in line]
    return elapsed, before, sampler.peak, lines[-1].split("] ", 1)[-1] if lines else ""


def render(result: Result, fmt: str) -> str:
    gib = result.zip_bytes / 1024**3
    growth = (result.rss_peak - result.rss_before) / MiB
    rows = [
        ("`unzip -q` (baseline)", result.unzip_s),
        ("Python `zipfile.extractall` (baseline)", result.zipfile_s),
        ("`POST /datasets/upload` (stream + check + extract + decode all)", result.upload_s),
    ]
    table = "\n".join(f"| {name} | {secs:.1f} | {result.zip_bytes / MiB / secs:.0f} |" for name, secs in rows)
    return f"""{HEADING} — `tools/bench/upload.py --format {fmt}`

{time.strftime("%Y-%m-%d")}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.
One zip of {result.images} distinct {fmt.upper()} images (incompressible noise, stored) plus their YOLO labels
(deflated): {result.zip_bytes:,} bytes ({gib:.2f} GiB). Server: `python -m tator` on 127.0.0.1, TATOR_DATA_DIR
on the same disk as the baselines' output; the zip was in the page cache for every measurement.

| measurement | seconds | MiB/s of zip |
|---|---|---|
{table}

- Upload / `unzip`: **{result.upload_s / result.unzip_s:.2f}x** (target: within 2x);
  upload / `zipfile.extractall`: {result.upload_s / result.zipfile_s:.2f}x.
- Server resident memory (VmRSS): {result.rss_before / MiB:.0f} MiB before, peak {result.rss_peak / MiB:.0f} MiB
  during the upload: growth **{growth:.0f} MiB** (target: under 200 MiB).
- Server log: `{result.ingest_log}` (the part after the body was on disk).
"""


def write_docs(section: str) -> None:
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    if HEADING in text:
        start = text.index(HEADING)
        following = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[following + 1 :] if following != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--format", choices=("png", "jpeg"), default="png")
    parser.add_argument("--write-docs", action="store_true", help=f"write the figures into {DOCS.name}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tator-bench-upload-") as tmp:
        scratch = Path(tmp)
        archive = scratch / "bench.zip"
        started = time.perf_counter()
        images, size = build_zip(archive, int(args.gib * 1024**3), args.format)
        print(f"built {archive.name}: {images} images, {size / MiB:.0f} MiB in {time.perf_counter() - started:.0f}s")
        warmup = scratch / "warmup.zip"
        build_zip(warmup, 2 * MiB, args.format)
        unzip_s = time_unzip(archive, scratch)
        zipfile_s = time_zipfile(archive, scratch)
        upload_s, before, peak, log_line = run_server_upload(archive, scratch, warmup)
        result = Result(images, size, unzip_s, zipfile_s, upload_s, before, peak, log_line)
    section = render(result, args.format)
    print(section)
    if args.write_docs:
        write_docs(section)


if __name__ == "__main__":
    main()
