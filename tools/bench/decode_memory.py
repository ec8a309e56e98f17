"""Peak resident memory of concurrent large-image decodes: the pixel budget against the unbounded decode.

    python tools/bench/decode_memory.py [--concurrent 8] [--megapixels 88] [--budget 200000000]

One PNG of `--megapixels` (mostly flat, so it is only a few hundred KB, as a hostile client would send it) is
base64-encoded once. Each variant then runs in a fresh child process, where `--concurrent` threads each resolve
it the way every inference route does (`ImageCache.resolve` on `image_base64`, with the default 1 GiB cache):

- `baseline`: the decode as it was before the budget (whole-image `convert("RGB")`, then `np.asarray`, which
  copies through `tobytes`), no budget;
- `budget`: `tator.runtime.images` as the server runs it (band-wise fill of the one output array, the shared
  `PixelBudget` of `--budget` pixels, freed heap handed back to the OS after big decodes).

Reported per variant: peak RSS of the child (`ru_maxrss`), RSS once every thread has finished, and wall time.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tator.runtime.budget import PixelBudget  # noqa: E402
from tator.runtime.images import ImageCache, ImageLimits, ImagePayload, decode_base64_image  # noqa: E402

GiB = 1024**3


def make_png(megapixels: float, dest: Path) -> tuple[int, int]:
    from PIL import Image

    width = int((megapixels * 1e6 * 11 / 8) ** 0.5)
    height = int(megapixels * 1e6 / width)
    pixels = np.full((height, width, 3), 90, dtype=np.uint8)
    pixels[height // 4 : height // 2, width // 4 : width // 2] = (200, 40, 40)  # one red block
    Image.fromarray(pixels).save(dest, format="PNG", compress_level=9)
    return width, height


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _baseline_decode(text: str) -> np.ndarray:
    """The decode before the budget: whole-image convert, then np.asarray (a tobytes copy), no budget."""
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        image.load()
        rgb = image.convert("RGB")
    pixels = np.asarray(rgb, dtype=np.uint8)
    pixels.setflags(write=False)
    return pixels


def child(variant: str, png: Path, concurrent: int, budget: int) -> dict[str, float]:
    text = base64.b64encode(png.read_bytes()).decode()
    pixel_budget = PixelBudget(budget, wait_s=600) if variant == "budget" else None
    limits = ImageLimits(max_bytes=100 * 1024 * 1024, max_pixels=100_000_000, budget=pixel_budget)
    cache = ImageCache(max_bytes=GiB, max_entries=32, limits=limits)
    errors: list[str] = []

    def one() -> None:
        try:
            if variant == "budget":
                cache.resolve(ImagePayload(image_base64=text))
            else:
                cache.put(_baseline_decode(text))
        except Exception as exc:  # reported, not raised: the figure is what matters
            errors.append(f"{type(exc).__name__}: {exc}")

    started = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(concurrent)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    assert decode_base64_image is not None  # the module under test is the server's own
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_rss_gb": peak / GiB, "after_rss_gb": _rss_bytes() / GiB, "wall_s": wall, "errors": len(errors)}


def run_variant(variant: str, png: Path, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", variant, "--png", str(png),
               "--concurrent", str(args.concurrent), "--budget", str(args.budget)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--megapixels", type=float, default=88.0)
    parser.add_argument("--budget", type=int, default=200_000_000, help="pixels decoded at once (the setting)")
    parser.add_argument("--variants", default="baseline,budget")
    parser.add_argument("--child", choices=["baseline", "budget"])
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(child(args.child, args.png, args.concurrent, args.budget)) + "\n")
        return
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "big.png"
        width, height = make_png(args.megapixels, png)
        size_kb = png.stat().st_size / 1024
        sys.stdout.write(f"image {width}x{height} ({width * height / 1e6:.0f} MP), PNG {size_kb:.0f} KB, "
                         f"{args.concurrent} concurrent, budget {args.budget / 1e6:.0f} MP\n")  # fmt: skip
        sys.stdout.write("| variant | peak RSS (GB) | RSS after (GB) | wall (s) | errors |\n|---|---|---|---|---|\n")
        for variant in args.variants.split(","):
            r = run_variant(variant, png, args)
            cells = [
                variant,
                f"{r['peak_rss_gb']:.2f}",
                f"{r['after_rss_gb']:.2f}",
                f"{r['wall_s']:.1f}",
                str(r["errors"]),
            ]
            sys.stdout.write("| " + " | ".join(cells) + " |\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
