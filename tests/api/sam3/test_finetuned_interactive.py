"""Point and box prompts follow the active SAM3: a fine-tuned checkpoint's image encoder drives the tracker."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.api.sam3.support import sam_client, shapes_image

__all__ = ["sam_client"]


def _fine_tuned_run(client: TestClient, tiny_zoo: dict[str, Path]) -> Path:
    """A SAM3 checkpoint whose image encoder differs from the base one (as fine-tuning leaves it)."""
    import torch
    import transformers

    model_dir: Path = client.app.state.tator.settings.uploads_dir / "sam3_runs" / "ft" / "model"  # type: ignore[attr-defined]
    shutil.copytree(tiny_zoo["sam3"], model_dir)
    model: Any = transformers.Sam3Model.from_pretrained(model_dir)  # type: ignore[attr-defined]
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for param in model.vision_encoder.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.5)
    model.save_pretrained(model_dir)
    return model_dir


def _prompts(client: TestClient, image: str) -> list[dict[str, Any]]:
    point = client.post("/sam_point", json={"image_base64": image, "point_x": 60, "point_y": 50})
    box = client.post(
        "/sam_bbox", json={"image_base64": image, "bbox_left": 40, "bbox_top": 30, "bbox_width": 50, "bbox_height": 40}
    )
    assert point.status_code == 200 and box.status_code == 200, (point.text, box.text)
    return [{k: answer.json()[k] for k in ("bbox", "mask", "score")} for answer in (point, box)]


def test_point_and_box_prompts_use_the_active_fine_tuned_sam3(
    sam_client: TestClient, tiny_zoo: dict[str, Path]
) -> None:
    image = shapes_image(160, 120, box=(40, 30, 90, 70))
    base = _prompts(sam_client, image)
    model_dir = _fine_tuned_run(sam_client, tiny_zoo)
    activated = sam_client.post("/sam3/models/activate", json={"checkpoint_path": "sam3_runs/ft/model"})
    assert activated.status_code == 200, activated.text
    tuned = _prompts(sam_client, image)
    assert [a["score"] for a in tuned] != [a["score"] for a in base]  # other encoder weights, other answer
    loaded = [m.key for m in sam_client.app.state.tator.registry.describe()]  # type: ignore[attr-defined]
    assert any(k.startswith("sam3_tracker:") and f"vision_from={model_dir.resolve()}" in k for k in loaded)
    preload = sam_client.post("/sam_preload", json={"image_base64": image}).json()
    assert preload["image_cache_hit"] is True  # the prompts above cached the fine-tuned embedding
    assert sam_client.post("/sam3/models/activate", json={"checkpoint_path": None}).status_code == 200
    assert _prompts(sam_client, image) == base  # the base tracker again, from its own cached embedding
