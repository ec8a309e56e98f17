"""Prepass step A: YOLO and RF-DETR, on the full image and on overlapping tiles.

A detector's classes are matched to the dataset's labelmap by normalised name; classes that match nothing are
dropped with a warning (never a failed run). The windowed run is skipped when one tile would cover the whole
image (its boxes would only duplicate the full run's).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tator.datasets.labels import index_by_label, normalise_label
from tator.prepass.candidates import Candidate, make_atoms
from tator.prepass.config import PrepassConfig
from tator.prepass.models import ModelAccess, SpecRef
from tator.prepass.trace import Trace
from tator.vision.detection import BatchDetector, Detections, FullMode, Pixels, PredictMode, WindowedMode, run_mode
from tator.vision.windows import window_count

YOLO_NMS_IOU = 0.45


def map_classes(names: Sequence[str], labelmap: Sequence[str]) -> tuple[dict[int, int], list[str]]:
    """Model class id -> dataset class id by normalised name, and the model names that match none."""
    index = index_by_label(labelmap)
    mapping: dict[int, int] = {}
    unmapped: list[str] = []
    for model_id, name in enumerate(names):
        target = index.get(normalise_label(name))
        if target is None:
            unmapped.append(name)
        else:
            mapping[model_id] = target
    return mapping, unmapped


def _detector(family: str, handle: object, config: PrepassConfig, trace: Trace) -> tuple[BatchDetector, list[str], int]:
    """The family's batched detector, its class names and its tile batch size."""
    if family == "yolo":
        from tator.yolo.infer import YoloOptions, batch_detector, windowed_batch_size
        from tator.yolo.loader import YoloHandle

        assert isinstance(handle, YoloHandle)
        options = YoloOptions(conf=config.detector_conf, iou=YOLO_NMS_IOU, max_det=config.detector_max_det)
        names = [handle.names[i] for i in sorted(handle.names)]
        return batch_detector(handle, options), names, windowed_batch_size(handle.device)
    from tator.rfdetr.infer import RfdetrCallReport, RfdetrOptions
    from tator.rfdetr.infer import batch_detector as rfdetr_detector
    from tator.rfdetr.loader import RfdetrHandle

    assert isinstance(handle, RfdetrHandle)
    report = RfdetrCallReport()
    detect = rfdetr_detector(handle, RfdetrOptions(conf=config.detector_conf, max_det=config.detector_max_det), report)

    def checked(images: list[Pixels]) -> list[Detections]:
        found = detect(images)
        if report.shifted:
            trace.warn("labelmap_shifted:rfdetr")
        return found

    return checked, list(handle.class_names), 8


def _modes(
    config: PrepassConfig, width: int, height: int, batch: int, trace: Trace, family: str
) -> list[tuple[str, PredictMode]]:
    modes: list[tuple[str, PredictMode]] = [("full", FullMode())]
    if not config.detector_windowed:
        return modes
    size, overlap = config.sahi_window_size, config.sahi_overlap_ratio
    if window_count(width, height, slice_size=size, overlap=overlap) <= 1:
        trace.add("skip", family, f"windowed run skipped: one {size}px tile covers the {width}x{height} image")
        return modes
    window = WindowedMode(slice_size=size, overlap=overlap, merge_iou=config.sahi_merge_iou, batch_size=batch)
    window.check(width, height)
    return [*modes, ("windowed", window)]


def run_detectors(
    models: ModelAccess, refs: dict[str, SpecRef | None], pixels: Pixels, labelmap: Sequence[str],
    config: PrepassConfig, trace: Trace,
) -> list[Candidate]:  # fmt: skip
    """Raw candidates of every enabled, available detector (full + windowed), in dataset class ids."""
    height, width = pixels.shape[:2]
    out: list[Candidate] = []
    for family, ref in refs.items():
        if ref is None:
            continue
        with models.use(ref.spec()) as handle:
            detect, names, batch = _detector(family, handle, config, trace)
            mapping, unmapped = map_classes(names, labelmap)
            if unmapped:
                trace.warn(f"detector_labelmap_unmapped:{family}:{','.join(sorted(unmapped))[:200]}")
            for run, mode in _modes(config, width, height, batch, trace, family):
                with trace.step(family, run=run, conf=config.detector_conf) as step:
                    with trace.model_call():
                        found = run_mode(detect, pixels, mode).detections
                    keep = np.array([int(c) in mapping for c in found.classes], dtype=bool)
                    kept = found.select(keep) if len(found) else found
                    atoms = make_atoms(
                        kept.boxes, kept.scores, [mapping[int(c)] for c in kept.classes], labelmap,
                        source=family, run_id=f"{family}:{run}",
                    )  # fmt: skip
                    step["summary"] = f"{family} {run}: {len(atoms)} boxes ({len(found) - len(atoms)} unmapped)"
                    step["counts"] = {"boxes": len(atoms), "dropped_unmapped": len(found) - len(atoms)}
                    step["windows"] = [run]
                out.extend(atoms)
    return out
