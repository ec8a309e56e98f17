"""A corpus of hostile legacy-head pickles: each abuses one of numpy's rebuilders that a LogisticRegression
pickle legitimately names. Built by hand (`__reduce__` tuples), never by running what they describe."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_SCALAR = np.float64(0).__reduce__()[0]
_POINTERS = (0x4141414141414141).to_bytes(8, "little") * 4  # what the "objects" would point at


class Reduces:
    """Pickles as `func(*args)` (then BUILD with `state` when given): the gadget, without ever calling it."""

    def __init__(self, func: Any, args: tuple[Any, ...], state: Any = None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _forged_dtype(flags: int = 0) -> Reduces:
    # A record dtype whose one field is an object, with flags that claim it holds no object.
    fields = {"a": (np.dtype(object), 0)}
    return Reduces(np.dtype, ("V8", False, True), (3, "|", None, ("a",), fields, 8, 1, flags))


def _as_head(coef: Any) -> bytes:
    """A fitted-looking LogisticRegression whose coef_ is the gadget (what the server reads first)."""
    model = LogisticRegression()
    model.classes_ = np.array(["a", "b"])
    model.intercept_ = np.zeros(1)
    model.coef_ = coef
    return pickle.dumps(model, protocol=2)


def corpus() -> dict[str, bytes]:
    """name -> pickle bytes; every one must be refused with a 400 and leave the server up."""
    structured = np.dtype([("a", object)])
    return {
        "ndarray_object_buffer": _as_head(Reduces(np.ndarray, ((1, 4), np.dtype(object), _POINTERS))),
        "ndarray_structured_object_buffer": _as_head(Reduces(np.ndarray, ((1, 4), structured, _POINTERS))),
        "ndarray_forged_dtype_flags": _as_head(Reduces(np.ndarray, ((1, 4), _forged_dtype(), _POINTERS))),
        "frombuffer_object": _as_head(Reduces(_FROMBUFFER, (_POINTERS, np.dtype(object), (1, 4), "C"))),
        "frombuffer_structured_object": _as_head(Reduces(_FROMBUFFER, (_POINTERS, structured, (1, 4), "C"))),
        "reconstruct_setstate_object_bytes": _as_head(
            Reduces(_RECONSTRUCT, (np.ndarray, (0,), b"b"), (1, (1, 4), np.dtype(object), False, _POINTERS))
        ),
        "reconstruct_setstate_structured_bytes": _as_head(
            Reduces(_RECONSTRUCT, (np.ndarray, (0,), b"b"), (1, (1, 4), structured, False, _POINTERS))
        ),
        "reconstruct_setstate_forged_dtype": _as_head(
            Reduces(_RECONSTRUCT, (np.ndarray, (0,), b"b"), (1, (1, 4), _forged_dtype(), False, _POINTERS))
        ),
        "scalar_structured_object": _as_head(Reduces(_SCALAR, (structured, _POINTERS[:8]))),
        "scalar_forged_dtype": _as_head(Reduces(_SCALAR, (_forged_dtype(), _POINTERS[:8]))),
        "zero_strides_amplify": _as_head(Reduces(np.ndarray, ((2, 4_000_000), np.dtype("f8"), b"x" * 8, 0, (0, 0)))),
        "strides_out_of_bounds": _as_head(Reduces(np.ndarray, ((1, 4), np.dtype("f8"), _POINTERS, 0, (0, 1 << 40)))),
        "setstate_short_data": _as_head(
            Reduces(_RECONSTRUCT, (np.ndarray, (0,), b"b"), (1, (1, 1 << 20), np.dtype("f8"), False, b"x" * 8))
        ),
    }
