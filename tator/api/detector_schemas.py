"""Request shapes of the YOLO and RF-DETR predict routes, and how each becomes the shared flow's input."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tator.detectors.predict import Knobs, WindowRequest, region_mode
from tator.runtime.images import ImagePayload
from tator.vision.detection import RegionMode


class DetectorPredictRequest(ImagePayload):
    model_config = ConfigDict(extra="ignore")
    conf: float = 0.25
    max_det: int = 300
    expected_labelmap: list[str] | None = None

    def knobs(self) -> Knobs:
        return Knobs(self.conf, self.max_det, self.expected_labelmap)


class YoloPredictRequest(DetectorPredictRequest):
    iou: float = 0.45


class RegionFields(BaseModel):
    region: list[float] | None = None
    center_only: bool = True
    image_is_cropped: bool = False
    full_width: int | None = None
    full_height: int | None = None

    def mode(self) -> RegionMode:
        full_size = (self.full_width, self.full_height)
        return region_mode(
            self.region, center_only=self.center_only, image_is_cropped=self.image_is_cropped, full_size=full_size
        )


class WindowFields(BaseModel):
    slice_size: int = 640
    overlap: float = 0.2
    merge_iou: float = 0.5

    def mode(self) -> WindowRequest:
        return WindowRequest(self.slice_size, self.overlap, self.merge_iou)


class YoloRegionRequest(YoloPredictRequest, RegionFields):
    pass


class YoloWindowedRequest(YoloPredictRequest, WindowFields):
    pass


class RfdetrRegionRequest(DetectorPredictRequest, RegionFields):
    pass


class RfdetrWindowedRequest(DetectorPredictRequest, WindowFields):
    pass
