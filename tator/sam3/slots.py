"""Preload slots: which image each predictor slot (`current`, `next`, `previous`) holds, and preload ordering.

A slot is enabled when its index is below `max_predictors` (1..3). Each preload carries the client's
`preload_generation`: a preload older than the newest one seen for its slot is refused, both when it arrives
and when it finishes (a newer preload started meanwhile), so a slot never ends up holding a stale image.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from tator.errors import PreloadSuperseded, SlotBusy, SlotDisabled, SlotNotFound

SLOT_NAMES: tuple[str, ...] = ("current", "next", "previous")
MAX_PREDICTORS = len(SLOT_NAMES)


@dataclass(frozen=True)
class SlotState:
    slot: str
    image_name: str | None = None
    token: str | None = None
    variant: str | None = None
    model_key: str | None = None
    width: int | None = None
    height: int | None = None
    busy: bool = False
    last_loaded: float | None = None
    memory_bytes: int = 0
    device: str | None = None
    load_ms: float | None = None


@dataclass
class _Slot:
    state: SlotState
    generation: int | None = None
    pending: int = 0


@dataclass
class PredictorSlots:
    """Thread-safe table of the preload slots."""

    max_predictors: int = MAX_PREDICTORS
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: dict[str, _Slot] = field(default_factory=lambda: {name: _Slot(SlotState(name)) for name in SLOT_NAMES})

    def enabled(self, slot: str) -> bool:
        return slot in SLOT_NAMES and SLOT_NAMES.index(slot) < self.max_predictors

    def set_max(self, value: int) -> list[SlotState]:
        """Enable the first `value` slots; returns the states of the slots that were disabled (to unpin)."""
        with self._lock:
            self.max_predictors = max(1, min(MAX_PREDICTORS, value))
            dropped = [s.state for name, s in self._slots.items() if not self.enabled(name) and s.state.token]
            for state in dropped:
                self._slots[state.slot] = _Slot(SlotState(state.slot))
            return dropped

    def begin(self, slot: str, generation: int | None) -> None:
        """Start a preload into `slot`; refuses a disabled slot or a generation older than one already seen."""
        with self._lock:
            if not self.enabled(slot):
                raise SlotDisabled(f"slot {slot!r} is disabled (max_predictors={self.max_predictors})", slot=slot)
            entry = self._slots[slot]
            if generation is not None and entry.generation is not None and generation < entry.generation:
                raise PreloadSuperseded(
                    f"preload generation {generation} is older than {entry.generation}", slot=slot,
                    generation=generation, latest_generation=entry.generation,
                )  # fmt: skip
            if generation is not None:
                entry.generation = generation
            entry.pending += 1
            entry.state = replace(entry.state, busy=True)

    def finish(self, slot: str, generation: int | None, state: SlotState | None) -> SlotState | None:
        """End a preload: install `state` (None = it failed) unless a newer generation began meanwhile.
        Returns the state it replaced (for unpinning), and raises `preload_superseded` when refused."""
        with self._lock:
            entry = self._slots[slot]
            entry.pending -= 1
            superseded = generation is not None and entry.generation is not None and generation < entry.generation
            previous = entry.state
            installed = state is not None and not superseded
            if state is not None and installed:
                entry.state = replace(state, slot=slot, busy=entry.pending > 0)
            else:
                entry.state = replace(entry.state, busy=entry.pending > 0)
        if superseded and state is not None:
            raise PreloadSuperseded(
                f"preload generation {generation} was superseded while it ran", slot=slot, generation=generation
            )
        return previous if installed and previous.token else None

    def activate(self, image_name: str, variant: str | None) -> tuple[SlotState, SlotState | None]:
        """Make the slot holding `image_name` the current one (the old current takes its place).
        Returns (new current state, the state now in the slot it came from)."""
        with self._lock:
            for name, entry in self._slots.items():
                state = entry.state
                if state.image_name != image_name or state.token is None or not self.enabled(name):
                    continue
                if variant is not None and state.variant != variant:
                    continue
                if entry.pending:
                    raise SlotBusy(f"slot {name!r} is still loading {image_name!r}", slot=name)
                if name != "current":
                    current = self._slots["current"]
                    if current.pending:
                        raise SlotBusy("slot 'current' is still loading", slot="current")
                    self._slots["current"], self._slots[name] = entry, current
                    entry.state = replace(entry.state, slot="current")
                    current.state = replace(current.state, slot=name)
                return self._slots["current"].state, self._slots[name].state
        raise SlotNotFound(f"no slot holds image {image_name!r}", image_name=image_name[:200])

    def clear(self) -> None:
        """Empty every slot (their embeddings were dropped); generations stay, so a stale preload is still
        refused, and a preload in flight installs its image when it finishes."""
        with self._lock:
            for entry in self._slots.values():
                entry.state = SlotState(entry.state.slot, busy=entry.pending > 0)

    def describe(self) -> list[tuple[SlotState, bool]]:
        """(state, enabled) of every slot, in slot order."""
        with self._lock:
            return [(self._slots[name].state, self.enabled(name)) for name in SLOT_NAMES]
