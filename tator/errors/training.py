"""Error codes of training options: where a job may run and what it may produce."""

from __future__ import annotations

from tator.errors.base import TatorError


class TrainingOptionUnsupported(TatorError):
    """A training option the contract names that this server does not carry out (never silently ignored)."""

    code, status = "training_option_unsupported", 400


class YoloOnnxExportUnavailable(TatorError):
    code, status = "yolo_onnx_export_unavailable", 400


class YoloMpsUnavailable(TatorError):
    code, status = "yolo_mps_unavailable", 400


class YoloCudaDevicesUnavailable(TatorError):
    code, status = "yolo_cuda_devices_unavailable", 400


class RfdetrCudaDevicesUnavailable(TatorError):
    code, status = "rfdetr_cuda_devices_unavailable", 400
