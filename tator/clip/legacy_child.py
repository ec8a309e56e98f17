"""Legacy heads are converted in a short-lived child process with memory and CPU-time limits.

The restricted loader (`tator.clip.legacy`) refuses every gadget we know of; the child is the second wall for
the ones we do not: whatever a file does to the child (exhaust memory, spin, crash the interpreter), the server
only sees a refused upload. The child writes the converted head in the safe `.npz` format, which the server
then validates like any uploaded head, and reports the outcome as one JSON line on stdout.

Run as `python -m tator.clip.legacy_child SRC DEST MEMORY_BYTES CPU_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tator.errors import ClassifierFormatUnsafe, ClassifierLoadFailed, TatorError

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[TatorError]] = {cls.code: cls for cls in (ClassifierFormatUnsafe, ClassifierLoadFailed)}
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_ONE_THREAD = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")


@dataclass(frozen=True)
class ChildLimits:
    """What one conversion may use: address space (bytes), CPU seconds, and wall-clock seconds."""

    memory_bytes: int = 2 * 1024 * 1024 * 1024
    cpu_seconds: int = 30
    wall_seconds: float = 60.0


def convert_in_child(src: Path, dest: Path, limits: ChildLimits) -> None:
    """Convert the legacy head `src` to a safe head at `dest` in a limited child; raise the child's error."""
    command = [sys.executable, "-m", __name__, str(src), str(dest), str(limits.memory_bytes), str(limits.cpu_seconds)]
    path = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, **_ONE_THREAD, "PYTHONPATH": path}
    try:
        done = subprocess.run(command, capture_output=True, timeout=limits.wall_seconds, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ClassifierLoadFailed("reading the file took too long", reason="time_limit") from exc
    report = _last_json_line(done.stdout)
    if done.returncode == 0 and report.get("ok") is True:
        return
    error = _ERRORS.get(str(report.get("code")))
    if error is not None:
        raise error(str(report.get("message", ""))[:500], reason=str(report.get("reason") or "") or None)
    log.warning("classifier.legacy_child_failed rc=%s stderr=%s", done.returncode, done.stderr[-400:])
    raise ClassifierLoadFailed("the file could not be read within the memory and time limits", reason="child_died")


def _last_json_line(stdout: bytes) -> dict[str, object]:
    for line in reversed(stdout.decode("utf-8", "replace").splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _main(argv: list[str]) -> int:
    src, dest, memory_bytes, cpu_seconds = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    from tator.clip.head import save_head
    from tator.clip.legacy import convert_legacy

    _limit(memory_bytes, cpu_seconds)
    try:
        save_head(convert_legacy(src), dest)
    except TatorError as exc:
        reason = exc.details.get("reason")
        sys.stdout.write(json.dumps({"ok": False, "code": exc.code, "message": exc.message, "reason": reason}) + "\n")
        return 1
    except MemoryError:
        message = "reading the file needs more memory than a head may"
        report = {"ok": False, "code": ClassifierLoadFailed.code, "reason": "memory_limit", "message": message}
        sys.stdout.write(json.dumps(report) + "\n")
        return 1
    sys.stdout.write(json.dumps({"ok": True}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
