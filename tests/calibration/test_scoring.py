from __future__ import annotations

import json
from pathlib import Path

import pytest

from tator.calibration.evaluate import Scored, evaluate
from tator.calibration.models import ModelOptions
from tator.calibration.pipeline import CalibrationOptions, fit
from tator.calibration.scoring import filter_candidates, job_calibrator_dir, open_calibrator
from tator.calibration.synthetic import CLASSES, candidate_record, make_pool
from tator.errors import CalibratorInvalid, CalibratorNotFound, InvalidId


@pytest.fixture(scope="module")
def calibrator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pool = make_pool(120, seed=5)
    fitted = fit(pool, CLASSES, CalibrationOptions(model=ModelOptions(xgb_rounds=80, threads=1), ablation=False))
    folder = tmp_path_factory.mktemp("jobs") / "cal_1234abcd" / "calibrator"
    fitted.calibrator.save(folder)
    return folder


def test_filter_keeps_candidates_at_or_above_their_class_threshold(calibrator_dir: Path) -> None:
    calibrator = open_calibrator(calibrator_dir)
    fresh = make_pool(40, seed=99)  # images the calibrator never saw
    kept_preds: list[Scored] = []
    raw_preds: list[Scored] = []
    for sample in fresh:
        records = [candidate_record(c) for c in sample.candidates]
        records.append({"box": [0, 0, 5, 5], "label": "helicopter", "score": 0.9, "score_by_source": {"detector": 0.9}})
        result = filter_candidates(calibrator, records, width=sample.width, height=sample.height)
        assert result.unscored == 1 and len(result.kept) + result.rejected == len(sample.candidates)
        scores = [r["ensemble_prob"] for r in result.kept]
        assert scores == sorted(scores, reverse=True)
        for record in result.kept:
            assert record["ensemble_prob"] >= record["ensemble_threshold"]
            box = tuple(record["box"])
            kept_preds.append(Scored(sample.image, record["class_id"], box, record["ensemble_prob"]))  # type: ignore[arg-type]
        raw_preds += [Scored(sample.image, c.class_id, c.box, c.score) for c in sample.candidates]
    truths = {s.image: s.truths for s in fresh}
    images = [s.image for s in fresh]
    filtered, unfiltered = evaluate(kept_preds, truths, images, CLASSES), evaluate(raw_preds, truths, images, CLASSES)
    assert filtered.total.f1 > unfiltered.total.f1 and filtered.total.precision > unfiltered.total.precision


def test_missing_or_broken_calibrators_are_refused(calibrator_dir: Path, tmp_path: Path) -> None:
    assert job_calibrator_dir(calibrator_dir.parent.parent, "cal_1234abcd") == calibrator_dir
    with pytest.raises(CalibratorNotFound):
        job_calibrator_dir(calibrator_dir.parent.parent, "cal_00000000")
    with pytest.raises(InvalidId):
        job_calibrator_dir(calibrator_dir.parent.parent, "../cal_1234abcd")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "calibrator.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CalibratorInvalid):
        open_calibrator(broken)
    with pytest.raises(CalibratorNotFound):
        open_calibrator(tmp_path / "absent")
