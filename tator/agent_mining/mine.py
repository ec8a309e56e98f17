"""Mining one class's recipe on a sample: score each prompt at every seed threshold, pick per prompt the
threshold that meets the target precision with the most matches (else the most precise), then add prompts
by matched-GT count while they cover GT boxes the recipe does not yet match, up to `max_steps`.

Scoring matches detections to ground truth greedily, best score first, one-to-one at `iou` (the prompt
helper's matching). A recipe's summary comes from running the recipe itself (`run_recipe`), the same
execution `/agent_mining/apply_image` answers with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tator.agent_mining.execute import Engine, Found, run_recipe
from tator.agent_mining.recipe import MiningParams, MiningStep
from tator.sam3.prompt_helper.evaluate import match

DEFAULT_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass(frozen=True)
class ImageCase:
    name: str  # the image's path inside the dataset
    gt: list[list[float]]  # the class's boxes, pixel xyxy
    engine: Engine


@dataclass
class Score:
    matched: set[tuple[int, int]]  # (image index, gt index)
    fps: int
    per_image: list[dict[str, Any]]

    @property
    def precision(self) -> float:
        hits = len(self.matched)
        return hits / (hits + self.fps) if hits + self.fps else 0.0


def match_found(found: Sequence[Found], gt: list[list[float]], iou: float) -> list[int | None]:
    """The gt index each detection (best first) matched, or None."""
    if not found:
        return []
    return match(gt, [(list(f.box), f.score) for f in found], iou)


def score(cases: Sequence[ImageCase], run: Callable[[ImageCase], list[Found]], iou: float) -> Score:
    """Run on every image and match against its ground truth."""
    matched: set[tuple[int, int]] = set()
    fps = 0
    per_image = []
    for n, case in enumerate(cases):
        found = run(case)
        hits = match_found(found, case.gt, iou)
        matched |= {(n, m) for m in hits if m is not None}
        misses = sum(1 for m in hits if m is None)
        fps += misses
        per_image.append({"image": case.name, "detections": len(found), "gts": len(case.gt),
                          "matches": len(hits) - misses, "fps": misses})  # fmt: skip
    return Score(matched, fps, per_image)


def grid(seed_threshold: float, candidates: Sequence[float] | None) -> list[float]:
    values = candidates if candidates else (seed_threshold, *DEFAULT_GRID)
    return sorted({round(float(t), 4) for t in values if seed_threshold <= float(t) <= 1})


def _pick(curve: list[tuple[float, Score]], target: float) -> tuple[float, Score]:
    meeting = [c for c in curve if c[1].precision >= target and c[1].matched]
    if meeting:
        return max(meeting, key=lambda c: (len(c[1].matched), -c[1].fps, c[0]))
    return max(curve, key=lambda c: (c[1].precision, len(c[1].matched), c[0]))


def prompt_stats(
    cases: Sequence[ImageCase], prompt: str, thresholds: Sequence[float], params: MiningParams, *, iou: float,
    target: float, checkpoint: Callable[[], None],
) -> dict[str, Any]:  # fmt: skip
    """One prompt as a one-step recipe at each threshold: its curve and chosen threshold."""
    curve = []
    for threshold in thresholds:
        checkpoint()
        step = MiningStep(prompt=prompt, seed_threshold=threshold)

        def one_step(case: ImageCase, step: MiningStep = step) -> list[Found]:
            return run_recipe(case.engine, [step], params)

        curve.append((threshold, score(cases, one_step, iou)))
    threshold, chosen = _pick(curve, target)
    return {
        "prompt": prompt, "seed_threshold": threshold, "matched": chosen.matched,
        "matches": len(chosen.matched), "fps": chosen.fps, "precision": round(chosen.precision, 4),
        "seed_threshold_curve": [{"threshold": t, "matches": len(s.matched), "fps": s.fps,
                                  "precision": round(s.precision, 4)} for t, s in curve],
    }  # fmt: skip


def select_steps(stats: Sequence[dict[str, Any]], max_steps: int) -> list[MiningStep]:
    """Prompts by matched count (then precision); each added only if it matches something still uncovered.
    With nothing matched at all, the single most precise prompt (so the recipe still runs)."""
    ranked = sorted(stats, key=lambda s: (-s["matches"], -s["precision"], s["fps"], s["prompt"]))
    covered: set[tuple[int, int]] = set()
    steps: list[MiningStep] = []
    for entry in ranked:
        if len(steps) >= max_steps:
            break
        if entry["matched"] - covered:
            covered |= entry["matched"]
            steps.append(MiningStep(prompt=entry["prompt"], seed_threshold=entry["seed_threshold"]))
    if not steps and ranked:
        top = ranked[0]
        steps.append(MiningStep(prompt=top["prompt"], seed_threshold=top["seed_threshold"]))
    return steps


def summary(result: Score, gt_total: int) -> dict[str, Any]:
    hits = len(result.matched)
    return {
        "gts": gt_total, "matches": hits, "fps": result.fps, "precision": round(result.precision, 4),
        "recall": round(hits / gt_total, 4) if gt_total else 0.0, "coverage": round(hits / gt_total, 4)
        if gt_total else 0.0, "per_image": result.per_image,
    }  # fmt: skip
