from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tator.calibration.calibrator import load_calibrator
from tator.calibration.features import build_matrix, labels, spec_for
from tator.calibration.models import ModelOptions
from tator.calibration.pipeline import CalibrationOptions, evaluate_pool, fit
from tator.calibration.report import CALIBRATOR_DIR, build_report, bundle, markdown, write_outputs
from tator.calibration.samples import CandidateBox, ImageSample, split_images
from tator.calibration.synthetic import CLASSES, make_pool

FAST = ModelOptions(kind="xgb", xgb_rounds=120, threads=1)


@pytest.fixture(scope="module")
def pool() -> list[ImageSample]:
    return make_pool(160, seed=3)


def _quiet(fraction: float, message: str) -> None:
    del fraction, message


def test_split_is_by_image_disjoint_and_seeded() -> None:
    keys = [f"{n}.png" for n in range(50)]
    split = split_images(keys, seed=7)
    parts = [set(split.train), set(split.tune), set(split.test)]
    assert sum(map(len, parts)) == 50 and set().union(*parts) == set(keys)
    assert len(split.test) == 10 and len(split.tune) == 10
    assert split == split_images(list(reversed(keys)), seed=7)
    assert split != split_images(keys, seed=8)


def test_labels_are_one_to_one() -> None:
    box = (0.0, 0.0, 10.0, 10.0)
    cands = [
        CandidateBox(0, box, 0.5, {"a": 0.5}),
        CandidateBox(0, box, 0.9, {"b": 0.9}),
        CandidateBox(1, box, 0.7, {}),
    ]
    sample = ImageSample("x.png", 100, 100, cands, [(0, box)])
    assert labels([sample], 2, label_iou=0.5).tolist() == [0, 1, 0]


def test_features_do_not_depend_on_ground_truth(pool: list[ImageSample]) -> None:
    spec = spec_for(pool, CLASSES)
    blind = [replace(s, truths=[]) for s in pool[:20]]
    assert np.array_equal(build_matrix(spec, pool[:20])[0], build_matrix(spec, blind)[0])
    assert len(spec.names) == build_matrix(spec, pool[:1])[0].shape[1]


def test_calibrated_beats_every_single_source_and_the_union(pool: list[ImageSample]) -> None:
    options = CalibrationOptions(model=FAST, ablation=False)
    fitted, figures = evaluate_pool(pool, CLASSES, options, _quiet)
    report = build_report(fitted, figures, CLASSES, options, len(pool))
    calibrated = report["test"]["total"]["f1"]
    best_source = max(c["f1"] for c in report["baselines"]["sources"].values())
    assert calibrated > best_source
    assert calibrated > report["baselines"]["union_tuned"]["f1"]
    assert calibrated > report["baselines"]["union_all"]["f1"]
    assert 0 < report["test"]["total"]["recall"] <= report["recall_ceiling"] <= 1
    assert set(report["baselines"]["sources"]) == {"detector", "sam3_text", "similarity"}


def test_test_split_ground_truth_never_reaches_training_or_thresholds(pool: list[ImageSample]) -> None:
    options = CalibrationOptions(model=FAST, ablation=False)
    first = fit(pool, CLASSES, options)
    test_keys = set(first.split.test)
    blanked = [replace(s, truths=[]) if s.image in test_keys else s for s in pool]
    second = fit(blanked, CLASSES, options)
    assert second.split == first.split
    assert second.calibrator.thresholds == first.calibrator.thresholds
    sample = [s for s in pool if s.image in test_keys]
    assert np.array_equal(first.calibrator.scores(sample)[0], second.calibrator.scores(sample)[0])
    assert second.tuned.test.total.tp == 0 and first.tuned.test.total.tp > 0  # only the reported figures move


@pytest.mark.parametrize("kind", ["xgb", "mlp"])
def test_calibrator_round_trips_through_safe_files(pool: list[ImageSample], kind: str, tmp_path: Path) -> None:
    model = FAST if kind == "xgb" else ModelOptions(kind="mlp", mlp_epochs=8, mlp_hidden=(32,))
    fitted = fit(pool, CLASSES, CalibrationOptions(model=model, ablation=False))
    fitted.calibrator.save(tmp_path / "cal")
    names = sorted(p.name for p in (tmp_path / "cal").iterdir())
    assert names == sorted(["calibrator.json", "model.json" if kind == "xgb" else "mlp.safetensors"])
    loaded = load_calibrator(tmp_path / "cal")
    sample = pool[:10]
    for a, b in zip(fitted.calibrator.scores(sample), loaded.scores(sample), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert loaded.thresholds == pytest.approx(fitted.calibrator.thresholds)


def test_report_files_and_bundle(pool: list[ImageSample], tmp_path: Path) -> None:
    options = CalibrationOptions(model=FAST, ablation=True)
    fitted, figures = evaluate_pool(pool, CLASSES, options, _quiet)
    report = build_report(fitted, figures, CLASSES, options, len(pool))
    assert set(report["ablation"]) == {"detector", "sam3_text", "similarity"}
    write_outputs(tmp_path, fitted, figures, report)
    assert (tmp_path / "pr_curve.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "training_curve.png").read_bytes().startswith(b"\x89PNG")
    rounds = figures["training_curve"]
    assert set(rounds) == {"train", "tune"} and len(rounds["train"]) == len(rounds["tune"]) > figures["best_round"]
    assert rounds["train"][-1] < rounds["train"][0]  # the calibrator learned something on its own split
    assert json.loads((tmp_path / "report.json").read_text())["test"]["total"]["tp"] > 0
    text = markdown(report)
    assert "| calibrated |" in text and "Recall ceiling" in text and "Ablation" in text
    assert "(pr_curve.png)" in text and "(training_curve.png)" in text
    names = zipfile.ZipFile(io.BytesIO(bundle(tmp_path))).namelist()
    assert names == [
        "report.json",
        "report.md",
        "pr_curve.png",
        "training_curve.png",
        f"{CALIBRATOR_DIR}/calibrator.json",
    ]


def test_a_pool_without_true_candidates_is_refused_with_a_code(pool: list[ImageSample]) -> None:
    from tator.errors import CalibrationCandidatesUnusable

    blind = [replace(s, truths=[]) for s in pool[:30]]
    with pytest.raises(CalibrationCandidatesUnusable):
        fit(blind, CLASSES, CalibrationOptions(model=FAST, ablation=False))
