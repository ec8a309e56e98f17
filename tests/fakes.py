"""Fakes that implement the runtime Protocols, for tests that need no real model."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from tator.runtime.loaders import LoadedModel, ModelSpec


@dataclass
class FakeModel:
    key: str
    closed: bool = False
    calls: int = 0

    def predict(self) -> str:
        if self.closed:
            raise RuntimeError("used after release")
        self.calls += 1
        return self.key


@dataclass
class FakeLoader:
    """Counts loads per key; optionally slow, failing, or holding a fixed byte size."""

    delay_s: float = 0.0
    nbytes: int = 1000
    fail_with: Exception | None = None
    loads: Counter[str] = field(default_factory=Counter)
    released: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, spec: ModelSpec, device: str) -> LoadedModel:
        with self._lock:
            self.loads[spec.key] += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with
        model = FakeModel(spec.key)

        def release() -> None:
            model.closed = True
            with self._lock:
                self.released.append(spec.key)

        return LoadedModel(value=model, nbytes=self.nbytes, device=device, release=release)
