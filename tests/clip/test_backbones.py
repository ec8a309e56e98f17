"""Which backbone a name means, on a hub server and on the tiny zoo; the cache fingerprint of a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tator.clip.backbones import Backbone, backbone_fingerprint, resolve_backbone
from tator.errors import ClipEncoderTypeUnsupported, ClipModelNotAllowed
from tator.runtime.loaders import ModelSpec

HUB = {"clip": "openai/clip-vit-base-patch32", "dinov3": "facebook/dinov3-vits16-pretrain-lvd1689m"}


def test_names_resolve_to_sources(tmp_path: Path) -> None:
    data = tmp_path / "uploads"
    (data / "models" / "my_clip").mkdir(parents=True)
    tiny = {"clip": str(data / "zoo" / "clip"), "dinov3": str(data / "zoo" / "dinov3")}
    hub = resolve_backbone("clip", "ViT-L/14", base_models=HUB, tiny=False, data_dir=data)
    assert hub == Backbone("clip", "ViT-L/14", "openai/clip-vit-large-patch14")
    assert hub.spec == ModelSpec("clip", "openai/clip-vit-large-patch14")
    assert resolve_backbone("clip", "ViT-L/14", base_models=tiny, tiny=True, data_dir=data).source == tiny["clip"]
    assert resolve_backbone("CLIP", "", base_models=HUB, tiny=False, data_dir=data).source == HUB["clip"]
    assert resolve_backbone("dinov3", None, base_models=HUB, tiny=False, data_dir=data).source == HUB["dinov3"]
    assert resolve_backbone("clip", "laion/some-clip", base_models=HUB, tiny=False, data_dir=data).source == (
        "laion/some-clip"
    )
    local = resolve_backbone("clip", "models/my_clip", base_models=HUB, tiny=False, data_dir=data)
    assert local.source == str((data / "models" / "my_clip").resolve())


@pytest.mark.parametrize("name", ["/etc", "../outside", "models/missing/deeper", "~/x"])
def test_paths_outside_the_data_dir_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ClipModelNotAllowed):
        resolve_backbone("clip", name, base_models=HUB, tiny=False, data_dir=tmp_path)


def test_a_symlink_out_of_the_data_dir_is_refused(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    (outside / "weights").mkdir(parents=True)
    data.mkdir()
    (data / "escape").symlink_to(outside / "weights")
    for name in ("escape", str(data / "escape")):
        with pytest.raises(ClipModelNotAllowed):
            resolve_backbone("clip", name, base_models=HUB, tiny=False, data_dir=data)
    absolute = resolve_backbone("clip", str(data), base_models=HUB, tiny=False, data_dir=data)
    assert absolute.source == str(data.resolve())


def test_unknown_encoder_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClipEncoderTypeUnsupported):
        resolve_backbone("radio", "", base_models=HUB, tiny=False, data_dir=tmp_path)


def test_fingerprint_follows_the_weight_files(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"a")
    backbone = Backbone("clip", "x", str(folder))
    first = backbone_fingerprint(backbone)
    assert first == backbone_fingerprint(backbone)
    (folder / "model.safetensors").write_bytes(b"bb")
    assert backbone_fingerprint(backbone) != first
    assert backbone_fingerprint(Backbone("dinov3", "x", str(folder))) != backbone_fingerprint(backbone)
