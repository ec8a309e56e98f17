"""The numpy rebuilders a legacy head pickle may name, replaced by checked equivalents.

numpy's own rebuilders trust their input: `ndarray(shape, dtype, buffer)` and `ndarray.__setstate__` turn raw
bytes into object pointers when the dtype holds objects, `dtype.__setstate__` accepts forged flags and fields,
and strides may point outside the buffer. Here no object or structured array is ever built: every array is a
fresh, C- or F-ordered copy of numeric (or fixed-width string) data whose byte length matches its shape
exactly; object arrays (string class names) come back as plain numeric or string arrays of their values.
"""

from __future__ import annotations

import _codecs
import math
import re
from typing import Any

import numpy as np

from tator.errors import ClassifierFormatUnsafe, ClassifierLoadFailed

MAX_ARRAY_BYTES = 1024 * 1024 * 1024
MAX_ARRAY_DIMS = 8
SAFE_KINDS = frozenset("biufcUS")  # bool, ints, floats, complex, fixed-width text
_DTYPE_SPEC = re.compile(r"^(?:[biufcUS]\d{0,4}|O\d?|\?|[bBhHiIlLqQefdgFDG])$")
_SCALAR_TYPES = (str, int, float, bool)


def _unsafe(message: str) -> ClassifierFormatUnsafe:
    return ClassifierFormatUnsafe(message, reason="unsafe_array")


def check_dtype(dtype: Any) -> np.dtype[Any]:
    """`dtype` if it is a plain numeric or fixed-width text dtype; objects, records and subarrays refused."""
    if not isinstance(dtype, np.dtype):
        raise _unsafe("an array in the file has no valid dtype")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in SAFE_KINDS:
        raise _unsafe(f"the file holds an array of dtype {str(dtype)[:40]}, which a head may not contain")
    return dtype


def check_shape(shape: Any, itemsize: int) -> tuple[tuple[int, ...], int]:
    """The shape as ints and its element count; negative sizes, too many dims or too many bytes refused."""
    if not isinstance(shape, tuple | list) or len(shape) > MAX_ARRAY_DIMS:
        raise _unsafe("an array in the file has an invalid shape")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_ARRAY_BYTES for v in shape):
        raise _unsafe("an array in the file has an invalid shape")
    count = math.prod(shape)
    if count * max(itemsize, 1) > MAX_ARRAY_BYTES:
        raise ClassifierLoadFailed("an array in the file is larger than a head may be")
    return tuple(shape), count


def array_from_bytes(data: Any, dtype: Any, shape: Any, order: str = "C") -> np.ndarray:
    """A fresh array from raw bytes whose length must equal the shape's byte size exactly."""
    checked = check_dtype(dtype)
    dims, count = check_shape(shape, checked.itemsize)
    if not isinstance(data, bytes | bytearray) or len(data) != count * checked.itemsize:
        raise _unsafe("an array's data does not match its shape and dtype")
    if order not in ("C", "F"):
        raise _unsafe("an array in the file has an invalid memory order")
    flat = np.frombuffer(bytes(data), dtype=checked, count=count)
    copied: np.ndarray = np.array(flat.reshape(dims, order=order), copy=True, order=order)  # type: ignore[call-overload]
    return copied


def array_from_values(values: Any, shape: Any) -> np.ndarray:
    """What numpy pickles as an object array (a list of values), as a plain array of those values."""
    dims, count = check_shape(shape, 8)
    if not isinstance(values, list) or len(values) != count:
        raise _unsafe("an object array's values do not match its shape")
    if not all(isinstance(v, _SCALAR_TYPES) for v in values):
        raise _unsafe("an object array in the file holds something other than names and numbers")
    return np.array(values).reshape(dims)


class NdarrayRef:
    """Stands in for `numpy.ndarray`: only `_reconstruct` may name it; calling it (raw buffers) is refused."""

    def __new__(cls, *args: Any, **kwargs: Any) -> NdarrayRef:
        if args or kwargs:
            raise _unsafe("the file builds an array directly from a raw buffer")
        return super().__new__(cls)


class PendingArray:
    """What `_reconstruct` returns: an array whose state (shape, dtype, data) the next BUILD supplies."""

    def build(self, state: Any) -> np.ndarray:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _unsafe("an array in the file has a malformed state")
        shape, dtype, fortran, data = state[-4:]
        if isinstance(dtype, np.dtype) and dtype == np.dtype(object):
            return array_from_values(data, shape)
        return array_from_bytes(data, dtype, shape, "F" if fortran else "C")


def reconstruct(cls: Any, *_shape_and_typecode: Any) -> PendingArray:
    if cls is not NdarrayRef:
        raise _unsafe("the file rebuilds something other than a plain array")
    return PendingArray()


def frombuffer(data: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    return array_from_bytes(data, dtype, shape, order if isinstance(order, str) else "")


def scalar(dtype: Any, value: Any = None) -> Any:
    if isinstance(dtype, np.dtype) and dtype == np.dtype(object):
        if not isinstance(value, _SCALAR_TYPES):
            raise _unsafe("an object scalar in the file is not a name or a number")
        return value
    return array_from_bytes(value, dtype, ())[()]


def make_dtype(spec: Any, *_align_and_copy: Any) -> np.dtype[Any]:
    """`numpy.dtype(spec)` for a simple type code only; its state (byte order) comes with BUILD."""
    if not isinstance(spec, str) or not _DTYPE_SPEC.fullmatch(spec):
        raise _unsafe(f"the file asks for dtype {str(spec)[:40]!r}, which a head may not contain")
    return np.dtype(spec)


def build_dtype(dtype: np.dtype[Any], state: Any) -> np.dtype[Any]:
    """Apply a dtype's pickled state (byte order only) without `dtype.__setstate__`, which trusts forged flags."""
    if not isinstance(state, tuple) or len(state) < 5 or any(v is not None for v in state[2:5]):
        raise _unsafe("the file gives a dtype fields, subarrays or forged flags")
    order = state[1]
    if order not in ("<", ">", "|", "="):
        raise _unsafe("the file gives a dtype an invalid byte order")
    return dtype.newbyteorder(order) if order in ("<", ">") else dtype


def latin1_encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    """`_codecs.encode` as protocol 2 uses it (bytes spelled as latin-1 text); no other codec."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise _unsafe("the file calls a text codec other than latin-1")
    return bytes(_codecs.encode(text, "latin1"))
