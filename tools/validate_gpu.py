"""`make validate-gpu`: the validation matrix on a CUDA machine, with the tiny zoo and then with one larger
random-weight model per family, recorded in docs/gpu-validation.md.

    python tools/validate_gpu.py [--only TEXT] [--larger-only TEXT] [--skip-larger] [--doc docs/gpu-validation.md]

`make validate-gpu` first builds the pinned environment (`make install`: a bare machine needs only Python 3.11
and the NVIDIA driver; torch's wheels bring CUDA). For each zoo this script starts `python -m tator` on a fresh
data directory with TATOR_DEVICE=cuda, runs tools/validate_matrix.py against it (every row, with its time), then
reads the device memory (NVML) before any model is loaded, after `POST /models/preload` of every family and
after `POST /runtime/unload`, and stops the server. Last, tools/bench/predict_overhead.py on the device (the
fixed cost of a detector predict over HTTP against the bare call; skipped with --skip-bench). Exit status 1 when
a row failed, 2 without a CUDA device.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

TOOLS = Path(__file__).resolve().parent
REPO_ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))
sys.path.insert(0, str(REPO_ROOT))

from run_validation import free_port, wait_ready  # noqa: E402

from tator.runtime.gpu_report import gpu_report  # noqa: E402

FAMILIES = ("yolo", "rfdetr", "sam3", "sam3_tracker", "sam1", "clip", "dinov3", "qwen")
DOC_MARKER = "## `make validate-gpu` run"
STATUSES = ("passed", "failed", "unchecked")


def _used_mb(http: httpx.Client) -> float:
    devices = http.get("/system/gpu").json()["devices"]
    return round(sum(d["total_mb"] - d["free_mb"] for d in devices), 1)


def _rss_mb(pid: int) -> float:
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def memory_probe(http: httpx.Client, pid: int) -> dict[str, Any]:
    """Device memory (and the server's RSS) before loading, with every family's base model loaded, and after
    /runtime/unload."""
    http.post("/runtime/unload").raise_for_status()
    before, rss_before = _used_mb(http), _rss_mb(pid)
    loads: dict[str, Any] = {}
    for family in FAMILIES:
        started = time.perf_counter()
        answer = http.post("/models/preload", json={"family": family})
        seconds = round(time.perf_counter() - started, 2)
        body = answer.json()
        loads[family] = {"status": answer.status_code, "seconds": seconds, "device": body.get("device"),
                         "mb": round((body.get("bytes") or 0) / 2**20, 1)}  # fmt: skip
    loaded, rss_loaded = _used_mb(http), _rss_mb(pid)
    unloaded = http.post("/runtime/unload").json()["unloaded"]
    after, rss_after = _used_mb(http), _rss_mb(pid)
    return {"before_mb": before, "loaded_mb": loaded, "after_unload_mb": after, "unloaded": unloaded, "loads": loads,
            "rss_mb": [rss_before, rss_loaded, rss_after]}  # fmt: skip


def run_zoo(label: str, zoo: Path | None, out: Path, only: str | None, device: str) -> dict[str, Any]:
    """Start a CUDA server (tiny zoo, or `zoo` linked in as its zoo), run the matrix and the memory probe."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"tator-gpu-{label}-"))
    if zoo is not None:
        (data_dir / "uploads").mkdir(parents=True)
        os.symlink(zoo, data_dir / "uploads" / "zoo")
    port = free_port()
    env = {**os.environ, "TATOR_DATA_DIR": str(data_dir), "TATOR_MODEL_ZOO": "tiny", "TATOR_OFFLINE": "1",
           "TATOR_PORT": str(port), "TATOR_DEVICE": device}  # fmt: skip  # the default bounds keep every family
    base_url = f"http://127.0.0.1:{port}"
    with open(data_dir / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "tator"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        try:
            ready = wait_ready(base_url, server, timeout=600)
            with httpx.Client(base_url=base_url, timeout=1800) as http:
                while not http.get("/models/base").is_success:  # the zoo is built at start-up
                    time.sleep(1)
                memory = memory_probe(http, server.pid)
            command = [sys.executable, str(TOOLS / "validate_matrix.py"), "--base-url", base_url, "--out", str(out)]
            started = time.perf_counter()
            code = subprocess.call(command + (["--only", only] if only else []))
            matrix_s = time.perf_counter() - started
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
    rows = json.loads((out / "matrix.json").read_text(encoding="utf-8"))
    return {"label": label, "ready_s": round(ready, 2), "matrix_s": round(matrix_s, 1), "exit": code,
            "memory": memory, "rows": rows, "data_dir": str(data_dir)}  # fmt: skip


def render(device: dict[str, Any], runs: list[dict[str, Any]], larger: dict[str, str]) -> str:
    gpu = ", ".join(
        f"{d['name']} ({d['total_mb'] / 1024:.0f} GiB, cc {d['compute_capability']})" for d in device["devices"]
    )
    lines = [
        DOC_MARKER,
        "",
        f"Ran {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {gpu or 'no GPU (CPU smoke run)'}.",
        "",
    ]
    if larger:
        lines += ["Larger random-weight models: " + "; ".join(f"{k}: {v}" for k, v in larger.items()) + ".", ""]
    for run in runs:
        mem, counts = run["memory"], {s: sum(r["status"] == s for r in run["rows"]) for s in STATUSES}
        lines += [f"### {run['label']} zoo", "",
                  f"Server ready in {run['ready_s']} s; matrix {run['matrix_s']} s: {counts['passed']} passed, "
                  f"{counts['failed']} failed, {counts['unchecked']} without a check (not listed).", "",
                  f"Device memory used (NVML, all processes): {mem['before_mb']} MB before loading, "
                  f"{mem['loaded_mb']} MB with every family loaded, {mem['after_unload_mb']} MB after "
                  f"`POST /runtime/unload` ({len(mem['unloaded'])} models unloaded). Server RSS: "
                  f"{' / '.join(str(v) for v in mem['rss_mb'])} MB at the same three points.", "",
                  "| family | preload status | device | model MB | load s |", "|---|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {f} | {v['status']} | {v['device']} | {v['mb']} | {v['seconds']} |" for f, v in mem["loads"].items()
        ]
        lines += ["", "| section | row | result | seconds |", "|---|---|---|---|"]
        icon = {"passed": "✅", "failed": "❌", "unchecked": "⬜"}
        for r in (r for r in run["rows"] if r["status"] != "unchecked"):
            detail = r["detail"][:120].replace("|", "/")
            lines.append(f"| {r['section']} | {r['row']} | {icon[r['status']]} {detail} | {r['seconds']} |")
        lines.append("")
    return "\n".join(lines)


def overhead_bench(device: str) -> str:
    """tools/bench/predict_overhead.py on `device`, as a doc section (its table, or why it failed)."""
    command = [sys.executable, str(TOOLS / "bench" / "predict_overhead.py"), "--device", device,
               "--requests", "30", "--repeats", "2", "--skip-own-work"]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
        output = done.stdout if done.returncode == 0 else f"failed ({done.returncode}): {done.stderr[-2000:]}"
    except subprocess.TimeoutExpired:
        output = "timed out after 1800 s"
    kept = [line for line in output.splitlines() if line.startswith(("|", "image ", "failed", "timed out"))]
    return "\n".join(["### Predict overhead on the device (tools/bench/predict_overhead.py)", "", *kept, ""])


def write_doc(doc: Path, section: str) -> None:
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# GPU validation\n\n"
    head = text.split(DOC_MARKER, 1)[0]
    doc.write_text(head + section, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="matrix rows to run with the tiny zoo (substring)")
    parser.add_argument("--larger-only", default=None, help="matrix rows to run with the larger zoo (substring)")
    parser.add_argument("--skip-larger", action="store_true")
    parser.add_argument("--skip-bench", action="store_true", help="leave out the predict overhead bench")
    parser.add_argument("--doc", type=Path, default=REPO_ROOT / "docs" / "gpu-validation.md")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "validation" / "gpu")
    parser.add_argument("--device", default="cuda", help="cpu: a smoke run of this script where no GPU is")
    args = parser.parse_args()
    device = gpu_report()
    if not device["available"] and args.device != "cpu":
        print(f"no CUDA device: {device.get('error', 'NVML lists none')}", file=sys.stderr)
        return 2
    runs = [run_zoo("tiny", None, args.out / "tiny", args.only, args.device)]
    larger: dict[str, str] = {}
    if not args.skip_larger:
        from gpu_zoo import build_larger_zoo

        scratch = Path(tempfile.mkdtemp(prefix="tator-gpu-zoo-"))
        larger = build_larger_zoo(Path(runs[0]["data_dir"]) / "uploads" / "zoo", scratch / "zoo")
        runs.append(run_zoo("larger", scratch / "zoo", args.out / "larger", args.larger_only, args.device))
        shutil.rmtree(scratch, ignore_errors=True)
    section = render(device, runs, larger)
    if not args.skip_bench:
        section += overhead_bench(args.device)
    write_doc(args.doc, section)
    print(f"wrote {args.doc}")
    return 1 if any(run["exit"] for run in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
