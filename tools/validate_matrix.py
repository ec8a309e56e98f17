"""Check a live Tator server row by row against the validation matrix.

    python tools/validate_matrix.py --base-url http://127.0.0.1:8000 [--out validation/] [--token T]

Writes `matrix.md` (the style of shared/spec/validation-matrix.md) and `matrix.json`. A row is ✅ when
its check passed against the server, ❌ when it failed (with the reason), and ⬜ when this tool has no
check for it yet. Exit status 1 if any checked row failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from validation.context import Row, ValidationContext  # noqa: E402
from validation.spec_rows import SPEC_ROWS  # noqa: E402

_NOT_ROW_MODULES = {"context", "spec_rows"}
LEGEND = "Legend: ✅ passed against the live server | ❌ failed | ⬜ no check yet"


@dataclass
class RowResult:
    section: str
    row: str
    status: str  # passed | failed | unchecked
    detail: str
    seconds: float


def discover_rows() -> list[Row]:
    package = importlib.import_module("validation")
    rows: list[Row] = []
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name in _NOT_ROW_MODULES:
            continue
        module = importlib.import_module(f"validation.{module_info.name}")
        rows.extend(getattr(module, "ROWS", []))
    return rows


def _norm(label: str) -> str:
    return "".join(ch for ch in label.lower() if ch.isalnum())


def run_rows(rows: list[Row], ctx: ValidationContext, only: str | None) -> list[RowResult]:
    results: list[RowResult] = []
    for section, label, check in rows:
        if only and only.lower() not in f"{section} {label}".lower():
            continue
        started = time.perf_counter()
        try:
            detail, status = check(ctx), "passed"
        except Exception as exc:  # a failing row must not stop the others
            detail, status = f"{type(exc).__name__}: {exc}"[:500], "failed"
            traceback.print_exc(file=sys.stderr)
        results.append(RowResult(section, label, status, detail, round(time.perf_counter() - started, 2)))
        print(f"[{status}] {section} / {label}: {detail}", file=sys.stderr)
    return results


def with_unchecked(results: list[RowResult]) -> list[RowResult]:
    """Results in spec order, spec rows without a check marked unchecked, extra rows after their section."""
    checked = {(_norm(r.section), _norm(r.row)) for r in results}
    ordered: list[RowResult] = []
    sections = list(dict.fromkeys([s for s, _ in SPEC_ROWS] + [r.section for r in results]))
    for section in sections:
        spec_labels = [label for s, label in SPEC_ROWS if s == section]
        for label in spec_labels:
            match = [r for r in results if _norm(r.section) == _norm(section) and _norm(r.row) == _norm(label)]
            ordered.extend(match or [RowResult(section, label, "unchecked", "no check yet", 0.0)])
        spec_keys = {(_norm(section), _norm(label)) for label in spec_labels}
        ordered.extend(r for r in results if r.section == section and (_norm(r.section), _norm(r.row)) not in spec_keys)
    assert all((_norm(r.section), _norm(r.row)) in checked or r.status == "unchecked" for r in ordered)
    return ordered


def render_markdown(results: list[RowResult], base_url: str) -> str:
    icon = {"passed": "✅", "failed": "❌", "unchecked": "⬜"}
    counts = {s: sum(r.status == s for r in results) for s in icon}
    lines = [
        "# Tator Validation Matrix (live run)",
        "",
        f"Server: `{base_url}` · {time.strftime('%Y-%m-%d %H:%M:%S %Z')} · "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['unchecked']} without a check",
        "",
        LEGEND,
    ]
    section = None
    for result in results:
        if result.section != section:
            section = result.section
            lines += ["", f"## {section}"]
        lines.append(f"- {icon[result.status]} {result.row} ({result.detail}; {result.seconds}s)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--out", type=Path, default=Path("validation"))
    parser.add_argument("--token", default=None, help="API token, when the server requires one")
    parser.add_argument("--only", default=None, help="run only rows whose section/label contains this text")
    parser.add_argument("--timeout", type=float, default=600.0, help="per-request timeout in seconds")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the Markdown matrix here")
    args = parser.parse_args(argv)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    with (
        tempfile.TemporaryDirectory(prefix="tator-validate-") as scratch,
        httpx.Client(base_url=args.base_url, timeout=args.timeout, headers=headers) as http,
    ):
        ctx = ValidationContext(base_url=args.base_url, http=http, workdir=Path(scratch))
        results = with_unchecked(run_rows(discover_rows(), ctx, args.only))
    args.out.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(results, args.base_url)
    (args.out / "matrix.md").write_text(markdown, encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(markdown, encoding="utf-8")
    (args.out / "matrix.json").write_text(json.dumps([asdict(r) for r in results], indent=2), encoding="utf-8")
    failed = [r for r in results if r.status == "failed"]
    print(f"wrote {args.out / 'matrix.md'}: {sum(r.status == 'passed' for r in results)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
