"""Every classifier-head router (issue 5), as one router for `tator.api.build_api_router`."""

from __future__ import annotations

from tator.api import clip, clip_active, clip_train, fs_classifier
from tator.api.routing import IndexedRouter

router = IndexedRouter()
router.include_router(clip.router)
router.include_router(clip_active.router)
router.include_router(clip_train.router)
router.include_router(fs_classifier.router)
