"""The one model registry: lazy loads, one load per key, bounded residency, safe unload.

Locks: `_state` guards the entry table and is never held while loading; each key has its own load lock
taken with a timeout (a caller waiting too long gets `model_busy` instead of hanging); each entry has a
use lock for models that are not thread-safe (ultralytics predictors keep per-call state).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tator.errors import DeviceOutOfMemory, ModelBusy, ModelFamilyUnknown, ModelLoadFailed, TatorError
from tator.runtime.device import is_out_of_memory, release_memory
from tator.runtime.loaders import LoadedModel, Loader, ModelSpec
from tator.runtime.weights import DOWNLOAD_ORIGINS, downloads_allowed, weights_status, weights_unavailable

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    spec: ModelSpec
    loaded: LoadedModel
    loaded_at: float
    last_used: float
    users: int = 0
    pinned: bool = False
    retired: bool = False
    released: bool = False
    use_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class ModelDescription:
    key: str
    family: str
    source: str
    device: str
    bytes: int
    loaded_at: float
    last_used: float
    in_use: int
    pinned: bool


class ModelRegistry:
    """Loads models on first use through injected loaders and keeps what fits resident, evicting the
    least recently used: at most `max_loaded` models (0: no count bound), and within `memory_budget_bytes`
    in all when set, else within `device_budget(device)` bytes on each device (0: unbounded)."""

    def __init__(
        self,
        loaders: Mapping[str, Loader],
        *,
        device: Callable[[], str],
        max_loaded: int = 0,
        memory_budget_bytes: int = 0,
        device_budget: Callable[[str], int] = lambda _device: 0,
        lock_timeout_s: float = 30.0,
        release: Callable[[], None] = release_memory,
    ) -> None:
        self._loaders = dict(loaders)
        self._device = device
        self._max_loaded = max_loaded
        self._budget = memory_budget_bytes
        self._device_budget = device_budget
        self._timeout = lock_timeout_s
        self._release = release
        self._state = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._load_locks: dict[str, threading.Lock] = {}
        self.load_count = 0

    @property
    def families(self) -> list[str]:
        return sorted(self._loaders)

    def get(self, spec: ModelSpec) -> LoadedModel:
        """The loaded model for `spec`, loading it on first use. Callers that keep using the object
        after unload still hold a valid reference; prefer `use()` for exclusive, leased access."""
        return self._acquire(spec).loaded

    @contextlib.contextmanager
    def use(self, spec: ModelSpec, *, exclusive: bool = True) -> Iterator[Any]:
        """Lease a model for one piece of work; an unload meanwhile waits for the lease to end."""
        entry = self._acquire(spec, lease=True)
        try:
            if exclusive:
                with _locked(entry.use_lock, self._timeout, spec.key):
                    yield entry.loaded.value
            else:
                yield entry.loaded.value
        finally:
            self._end_lease(entry)

    def _acquire(self, spec: ModelSpec, *, lease: bool = False) -> _Entry:
        if spec.family not in self._loaders:
            raise ModelFamilyUnknown(f"no loader for model family {spec.family!r}", family=spec.family)
        with self._state:
            entry = self._touch(spec.key, lease)
            if entry is not None:
                return entry
            load_lock = self._load_locks.setdefault(spec.key, threading.Lock())
        with _locked(load_lock, self._timeout, spec.key):
            with self._state:
                entry = self._touch(spec.key, lease)
                if entry is not None:
                    return entry
            loaded = self._load(spec)
            now = time.time()
            entry = _Entry(spec=spec, loaded=loaded, loaded_at=now, last_used=now, users=1 if lease else 0)
            with self._state:
                self._entries[spec.key] = entry
                evicted = self._evict_over_limits(keep=spec.key)
        self._finish_evictions(evicted)
        return entry

    def _touch(self, key: str, lease: bool) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            entry.last_used = time.time()
            if lease:
                entry.users += 1
        return entry

    def _load(self, spec: ModelSpec) -> LoadedModel:
        started = time.perf_counter()
        device = self._device()
        weights = weights_status(spec.family, spec.source)
        if weights.origin in DOWNLOAD_ORIGINS and not weights.local and not downloads_allowed():
            raise weights_unavailable(spec.family, spec.source)  # not the library's raw connection error
        try:
            loaded = self._loaders[spec.family](spec, device)
        except TatorError:
            raise
        except Exception as exc:
            if is_out_of_memory(exc):
                release_memory()
                raise DeviceOutOfMemory(f"out of device memory loading {spec.key}", model=spec.key) from exc
            if weights.origin in DOWNLOAD_ORIGINS and not weights_status(spec.family, spec.source).local:
                log.warning("model.weights_unavailable key=%s error=%s", spec.key, exc)
                raise weights_unavailable(spec.family, spec.source, exc) from exc
            log.exception("model.load_failed key=%s", spec.key)
            raise ModelLoadFailed(f"could not load {spec.key}: {type(exc).__name__}: {exc}", model=spec.key) from exc
        self.load_count += 1
        log.info(
            "model.loaded key=%s device=%s mb=%.1f secs=%.2f",
            spec.key,
            loaded.device,
            loaded.nbytes / 2**20,
            time.perf_counter() - started,
        )
        return loaded

    def _end_lease(self, entry: _Entry) -> None:
        with self._state:
            entry.users -= 1
        if entry.retired:
            self._finish_evictions([entry])

    def _evict_over_limits(self, *, keep: str) -> list[_Entry]:
        """Pick LRU entries to drop while a bound is broken that dropping them eases; caller holds `_state`."""
        evicted: list[_Entry] = []
        for key in list(self._entries):
            entry = self._entries[key]
            if key != keep and not entry.pinned and self._over_limits(entry.loaded.device):
                evicted.append(self._retire(key))
        return evicted

    def _over_limits(self, device: str) -> bool:
        """Whether the resident models break the count bound, the total budget, or `device`'s budget."""
        if self._max_loaded and len(self._entries) > self._max_loaded:
            return True
        if self._budget > 0:
            return sum(e.loaded.nbytes for e in self._entries.values()) > self._budget
        limit = self._device_budget(device)
        return limit > 0 and sum(e.loaded.nbytes for e in self._entries.values() if e.loaded.device == device) > limit

    def _retire(self, key: str) -> _Entry:
        entry = self._entries.pop(key)
        entry.retired = True
        return entry

    def _finish_evictions(self, entries: list[_Entry]) -> None:
        with self._state:
            # A leased entry is released when its last lease ends; `released` makes this run once.
            ready = [e for e in entries if e.users == 0 and not e.released]
            for entry in ready:
                entry.released = True
        for entry in ready:
            if entry.loaded.release is not None:
                with contextlib.suppress(Exception):
                    entry.loaded.release()
            entry.loaded.value = None
            log.info("model.unloaded key=%s", entry.spec.key)
        if ready:
            self._release()

    def unload(self, key: str) -> bool:
        """Drop one model; returns whether it was loaded. A leased model is freed when its lease ends."""
        with self._state:
            if key not in self._entries:
                return False
            entry = self._retire(key)
        self._finish_evictions([entry])
        return True

    def unload_where(self, matches: Callable[[ModelSpec], bool]) -> list[str]:
        """Drop every loaded model whose spec `matches` (e.g. all weights inside a deleted run) and
        return the keys dropped. Leased models are freed when their lease ends."""
        with self._state:
            entries = [self._retire(key) for key, e in list(self._entries.items()) if matches(e.spec)]
        self._finish_evictions(entries)
        return [e.spec.key for e in entries]

    def unload_all(self) -> list[str]:
        """Drop every loaded model (selections are untouched) and return the keys dropped."""
        with self._state:
            entries = [self._retire(key) for key in list(self._entries)]
        self._finish_evictions(entries)
        if not entries:
            self._release()
        return [e.spec.key for e in entries]

    def pin(self, key: str, pinned: bool = True) -> None:
        """Exempt a loaded model from LRU eviction (explicit unload still drops it)."""
        with self._state:
            if key in self._entries:
                self._entries[key].pinned = pinned

    def is_loaded(self, spec: ModelSpec) -> bool:
        with self._state:
            return spec.key in self._entries

    def describe(self) -> list[ModelDescription]:
        """What is resident now, most recently used last."""
        with self._state:
            return [
                ModelDescription(
                    key=key,
                    family=e.spec.family,
                    source=e.spec.source,
                    device=e.loaded.device,
                    bytes=e.loaded.nbytes,
                    loaded_at=e.loaded_at,
                    last_used=e.last_used,
                    in_use=e.users,
                    pinned=e.pinned,
                )
                for key, e in self._entries.items()
            ]


@contextlib.contextmanager
def _locked(lock: threading.Lock, timeout: float, key: str) -> Iterator[None]:
    if not lock.acquire(timeout=timeout):
        raise ModelBusy(f"model {key} is busy; try again", model=key)
    try:
        yield
    finally:
        lock.release()
