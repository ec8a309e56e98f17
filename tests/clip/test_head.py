"""The head file format: round trip, metadata-only reads, and refusal of anything that is not numbers + JSON."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tator.clip.head import ClassifierHead, build_head, head_bytes, is_background, load_head, read_head_meta, save_head
from tator.errors import ClassifierLoadFailed


def _mlp_head() -> ClassifierHead:
    rng = np.random.default_rng(1)
    layers = [(rng.normal(size=(8, 4)), rng.normal(size=8)), (rng.normal(size=(3, 8)), rng.normal(size=3))]
    return build_head(["cat", "dog", "__bg_0"], layers, activation="gelu", meta={"encoder_type": "clip"})


def test_round_trip_keeps_predictions_and_labelmap(tmp_path: Path) -> None:
    head = _mlp_head()
    path = tmp_path / "h.npz"
    save_head(head, path)
    loaded = load_head(path)
    x = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    assert np.allclose(loaded.predict_proba(x), head.predict_proba(x), atol=1e-6)
    assert np.allclose(loaded.predict_proba(x).sum(axis=1), 1.0)
    meta = read_head_meta(path)
    assert meta["labelmap"] == ["cat", "dog"] and meta["classes"] == ["cat", "dog", "__bg_0"]
    assert meta["embedding_dim"] == 4 and loaded.background_classes == ("__bg_0",)


def test_logit_adjustment_removes_the_prior() -> None:
    head = build_head(["a", "b"], [(np.zeros((2, 3)), np.zeros(2))], meta={"class_priors": [0.9, 0.1]})
    x = np.ones((1, 3), np.float32)
    assert np.allclose(head.predict_proba(x), 0.5)
    adjusted = head.predict_proba(x, logit_adjustment=True)[0]
    assert adjusted[1] > 0.85


def _rewrite(src: Path, dest: Path, *, member: str, data: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename == member else zin.read(item))


def test_object_arrays_and_bad_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.npz"
    save_head(_mlp_head(), path)
    pickled = io.BytesIO()
    np.lib.format.write_array(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    cases = {
        "object_array.npz": ("layer0_weight.npy", pickled.getvalue()),
        "bad_meta.npz": ("meta.json", b"{not json"),
        "wrong_format.npz": ("meta.json", json.dumps({"format": "other", "version": 1}).encode()),
    }
    for name, (member, data) in cases.items():
        _rewrite(path, tmp_path / name, member=member, data=data)
        with pytest.raises(ClassifierLoadFailed):
            load_head(tmp_path / name)
    (tmp_path / "not_zip.npz").write_bytes(b"\x80\x04not a zip")
    with pytest.raises(ClassifierLoadFailed):
        load_head(tmp_path / "not_zip.npz")


def test_inconsistent_shapes_are_refused() -> None:
    with pytest.raises(ClassifierLoadFailed):
        build_head(["a", "b", "c"], [(np.zeros((2, 3)), np.zeros(2))])
    with pytest.raises(ClassifierLoadFailed):
        build_head(["a", "b"], [(np.zeros((2, 3)), np.zeros(3))])
    with pytest.raises(ClassifierLoadFailed):
        build_head(["a", "a"], [(np.zeros((2, 3)), np.zeros(2))])
    with pytest.raises(ClassifierLoadFailed):
        build_head(["a", "b"], [(np.full((2, 3), np.nan), np.zeros(2))])


def test_meta_is_the_first_member_and_background_names() -> None:
    with zipfile.ZipFile(io.BytesIO(head_bytes(_mlp_head()))) as zf:
        assert zf.namelist()[0] == "meta.json"
    assert is_background("__bg_3") and is_background("Background") and not is_background("bg_car")
