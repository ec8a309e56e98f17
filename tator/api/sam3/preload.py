"""Preload slots: `/sam_preload`, `/sam_slots`, `/sam_activate_slot` and `/predictor_settings`."""

from __future__ import annotations

from tator.api.deps import ImagesDep, StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.api.sam3.deps import SamDep
from tator.api.sam3.schemas import (
    ActivateSlotRequest,
    ActivateSlotResponse,
    PredictorSettingsRequest,
    PredictorSettingsResponse,
    PreloadRequest,
    PreloadResponse,
    SlotStatus,
)
from tator.errors import (
    ImageNameRequiredForSlot,
    ImagePayloadMissing,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidImage,
    ModelBusy,
    PreloadSuperseded,
    SamVariantUnknown,
    SlotBusy,
    SlotDisabled,
    SlotNotFound,
)
from tator.sam3.interactive import BACKEND, SamRuntime, interactive_spec, preload, set_max_predictors
from tator.sam3.slots import MAX_PREDICTORS
from tator.state import AppState

router = IndexedRouter(tags=["sam"])


@router.post(
    "/sam_preload",
    response_model=PreloadResponse,
    responses=responses(
        ImagePayloadMissing, ImageTokenNotFound, InvalidBase64, InvalidImage, SamVariantUnknown,
        ImageNameRequiredForSlot, PreloadSuperseded, SlotDisabled, ModelBusy,
    ),
)  # fmt: skip
def sam_preload(body: PreloadRequest, state: StateDep, images: ImagesDep) -> PreloadResponse:
    """Compute (or reuse) the image's embedding and put it in a slot; stale generations get 409."""
    spec = interactive_spec(body.sam_variant, state.base_models(), state.selections)
    image = images.resolve(body)
    result = preload(
        state.sam, state.registry, spec, image, variant=body.sam_variant, slot=body.slot,
        generation=body.preload_generation, image_name=body.image_name,
    )  # fmt: skip
    return PreloadResponse(
        status="ready", width=image.width, height=image.height, token=image.token, backend=BACKEND,
        device=result.state.device or "cpu", preload_ms=result.preload_ms, image_cache_hit=result.cache_hit,
        runtime_notice=None,
    )  # fmt: skip


@router.get("/sam_slots", response_model=list[SlotStatus])
def sam_slots(sam: SamDep) -> list[SlotStatus]:
    """What each preload slot holds (current, next, previous)."""
    return [
        SlotStatus(
            slot=s.slot,
            image_name=s.image_name,
            token=s.token,
            variant=s.variant,
            width=s.width,
            height=s.height,
            busy=s.busy,
            last_loaded=s.last_loaded,
            enabled=enabled,
            memory_bytes=s.memory_bytes,
            backend=BACKEND,
            device=s.device,
            load_ms=s.load_ms,
        )  # fmt: skip
        for s, enabled in sam.slots.describe()
    ]


@router.post("/sam_activate_slot", response_model=ActivateSlotResponse, responses=responses(SlotNotFound, SlotBusy))
def sam_activate_slot(body: ActivateSlotRequest, sam: SamDep) -> ActivateSlotResponse:
    """Make the slot that preloaded `image_name` the current one."""
    current, _ = sam.slots.activate(body.image_name, body.sam_variant)
    return ActivateSlotResponse(status="ok", slot=current.slot, token=current.token)


def _settings(state: AppState, sam: SamRuntime) -> PredictorSettingsResponse:
    slots = sam.slots.describe()
    return PredictorSettingsResponse(
        max_predictors=sam.slots.max_predictors, min_predictors=1, max_supported_predictors=MAX_PREDICTORS,
        active_predictors=sum(1 for _, enabled in slots if enabled),
        loaded_predictors=sum(1 for s, enabled in slots if enabled and s.token),
        embedding_entries=len(sam.cache), embedding_bytes=sam.cache.nbytes, embedding_budget_bytes=sam.cache.max_bytes,
        image_cache_bytes=state.images.nbytes, device=state.settings.device,
    )  # fmt: skip


@router.get("/predictor_settings", response_model=PredictorSettingsResponse)
def get_predictor_settings(state: StateDep, sam: SamDep) -> PredictorSettingsResponse:
    """How many preload slots are enabled, and the memory their embeddings hold."""
    return _settings(state, sam)


@router.post("/predictor_settings", response_model=PredictorSettingsResponse)
def set_predictor_settings(body: PredictorSettingsRequest, state: StateDep, sam: SamDep) -> PredictorSettingsResponse:
    """Enable 1..3 preload slots (disabled slots release their embeddings)."""
    set_max_predictors(sam, body.max_predictors)
    return _settings(state, sam)
