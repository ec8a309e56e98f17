"""The restricted loader for legacy pickled heads: plain LogisticRegression in, nothing executable."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tator.clip.head import load_head
from tator.clip.legacy import convert_legacy, head_from_estimator, restricted_load
from tator.clip.legacy_child import ChildLimits, convert_in_child
from tator.errors import ClassifierFormatUnsafe, ClassifierLoadFailed
from tests.clip.hostile_pickles import corpus


def _fitted(labels: list[Any]) -> tuple[LogisticRegression, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(60, 6))
    y = np.array(labels * (60 // len(labels)))
    return LogisticRegression(max_iter=300).fit(x, y), x


@pytest.mark.parametrize("labels", [["cat", "dog", "bird"], [0, 1], ["yes", "no"]])
def test_joblib_and_pickle_heads_convert_exactly(tmp_path: Path, labels: list[Any]) -> None:
    model, x = _fitted(labels)
    joblib.dump(model, tmp_path / "m.joblib")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model, protocol=5))
    (tmp_path / "m2.pkl").write_bytes(pickle.dumps(model, protocol=2))
    for name in ("m.joblib", "m.pkl", "m2.pkl"):
        head = convert_legacy(tmp_path / name)
        assert head.classes == tuple(str(c) for c in model.classes_)
        assert np.allclose(head.predict_proba(x), model.predict_proba(x), atol=1e-5), name


def test_string_object_arrays_in_joblib_are_read(tmp_path: Path) -> None:
    model, _ = _fitted(["a", "b", "c"])
    model.classes_ = model.classes_.astype(object)
    joblib.dump(model, tmp_path / "m.joblib")
    assert convert_legacy(tmp_path / "m.joblib").classes == ("a", "b", "c")


class _WritesAFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.target), "w"))


class _RunsAShell:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo owned > /dev/null",))


def test_hostile_pickles_are_refused_before_anything_runs(tmp_path: Path) -> None:
    target = tmp_path / "owned.txt"
    model, _ = _fitted(["a", "b"])
    model.extra = _WritesAFile(target)  # hidden inside an otherwise valid model
    payloads = [pickle.dumps(_WritesAFile(target)), pickle.dumps(_RunsAShell()), pickle.dumps(model)]
    for payload in payloads:
        with pytest.raises(ClassifierFormatUnsafe):
            restricted_load(payload)
    assert not target.exists()


def test_other_estimators_and_class_attribute_writes_are_refused() -> None:
    model, x = _fitted(["a", "b"])
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, ["a", "b"] * 30)
    with pytest.raises(ClassifierFormatUnsafe):
        restricted_load(pickle.dumps(pipeline))
    # GLOBAL LogisticRegression, then BUILD with a slot state: would patch the class process-wide.
    payload = (
        b"\x80\x02csklearn.linear_model._logistic\nLogisticRegression\nN}X\x0d\x00\x00\x00predict_probaK\x01s\x86b."
    )
    with pytest.raises(ClassifierFormatUnsafe):
        restricted_load(payload)
    assert callable(LogisticRegression.predict_proba)
    with pytest.raises(ClassifierFormatUnsafe):
        head_from_estimator({"coef_": 1}, source_name="x.pkl")


def test_garbage_and_compressed_files_fail_cleanly() -> None:
    with pytest.raises(ClassifierLoadFailed):
        restricted_load(b"not a pickle at all")
    with pytest.raises(ClassifierLoadFailed):
        restricted_load(b"\x78\x9c" + b"\x00" * 10)


@pytest.mark.parametrize("name", sorted(corpus()))
def test_hostile_numpy_gadgets_are_refused_in_process(name: str) -> None:
    # On the old loader five of these crashed the interpreter (object pointers made from raw bytes).
    with pytest.raises(ClassifierFormatUnsafe):
        head_from_estimator(restricted_load(corpus()[name]), source_name=name)


def test_legitimate_arrays_come_back_as_plain_numeric_copies() -> None:
    model, _ = _fitted(["a", "b", "c"])
    model.classes_ = model.classes_.astype(object)
    for payload in (pickle.dumps(model, protocol=2), pickle.dumps(model, protocol=5)):
        state = restricted_load(payload).state
        assert state["coef_"].dtype == np.float64 and state["coef_"].flags.owndata
        assert state["classes_"].dtype.kind == "U"  # never an object array


def test_child_converts_a_head_and_enforces_its_memory_limit(tmp_path: Path) -> None:
    model, x = _fitted(["a", "b"])
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model, protocol=5))
    convert_in_child(tmp_path / "m.pkl", tmp_path / "m.npz", ChildLimits())
    assert np.allclose(load_head(tmp_path / "m.npz").predict_proba(x), model.predict_proba(x), atol=1e-5)
    big = LogisticRegression()  # 32 MB of weights: reading them needs ~100 MB more than the interpreter's ~110
    big.classes_, big.intercept_, big.coef_ = np.array(["a", "b"]), np.zeros(1), np.zeros((1, 4_000_000))
    (tmp_path / "big.pkl").write_bytes(pickle.dumps(big, protocol=5))
    with pytest.raises(ClassifierLoadFailed) as refused:
        convert_in_child(tmp_path / "big.pkl", tmp_path / "small.npz", ChildLimits(memory_bytes=160 * 2**20))
    assert refused.value.details["reason"] in ("memory_limit", "child_died")
    with pytest.raises(ClassifierLoadFailed) as slow:
        convert_in_child(tmp_path / "m.pkl", tmp_path / "slow.npz", ChildLimits(wall_seconds=0.01))
    assert slow.value.details["reason"] == "time_limit"
    assert not (tmp_path / "small.npz").exists() and not (tmp_path / "slow.npz").exists()


def test_child_reports_the_loaders_own_code(tmp_path: Path) -> None:
    (tmp_path / "bad.pkl").write_bytes(corpus()["ndarray_object_buffer"])
    with pytest.raises(ClassifierFormatUnsafe):
        convert_in_child(tmp_path / "bad.pkl", tmp_path / "out.npz", ChildLimits())
