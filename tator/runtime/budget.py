"""A weighted semaphore: how much of something (decoded pixels, decoded bytes) is held at once, process-wide.

Every holder takes its weight before the expensive step and gives it back after. One request larger than the
whole budget may still run, alone (its weight is clamped to the budget), so no valid input is refused for
being big; it only waits until nothing else holds the budget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tator.errors import DecodeBusy


class WeightedBudget:
    """`acquire(n)` blocks (up to `timeout` seconds, or for ever) until `n` units fit under the maximum."""

    def __init__(self, max_units: int) -> None:
        self.max_units = max(1, int(max_units))
        self._used = 0
        self._cond = threading.Condition()

    def acquire(self, amount: int) -> int:
        """Take `amount` units (clamped to the maximum), waiting as long as it takes; returns the units taken."""
        taken = self.try_acquire(amount, timeout=None)
        assert taken is not None  # an unbounded wait cannot time out
        return taken

    def try_acquire(self, amount: int, timeout: float | None) -> int | None:
        """Take `amount` units (clamped to the maximum); the units taken, or None when the wait timed out."""
        amount = max(0, min(int(amount), self.max_units))
        with self._cond:
            if not self._cond.wait_for(lambda: self._used + amount <= self.max_units, timeout=timeout):
                return None
            self._used += amount
        return amount

    def release(self, amount: int) -> None:
        with self._cond:
            self._used -= amount
            self._cond.notify_all()

    @property
    def used(self) -> int:
        return self._used


class PixelBudget(WeightedBudget):
    """Pixels being decoded at once across all requests; a request that cannot start in time is 503."""

    def __init__(self, max_pixels: int, *, wait_s: float) -> None:
        super().__init__(max_pixels)
        self.wait_s = wait_s

    @contextmanager
    def reserve(self, pixels: int) -> Iterator[None]:
        """Hold `pixels` for the duration of the block; 503 `decode_busy` after waiting `wait_s` seconds."""
        held = self.try_acquire(pixels, timeout=self.wait_s)
        if held is None:
            raise DecodeBusy(
                f"the server is decoding {self.max_units} pixels of other images; retry shortly",
                limit_pixels=self.max_units, retry_after_s=1,
            )  # fmt: skip
        try:
            yield
        finally:
            self.release(held)
