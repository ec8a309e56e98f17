"""Legacy `.pkl` / `.joblib` heads: read with a restricted unpickler, converted to the safe format.

Only a plain scikit-learn `LogisticRegression` is accepted. The unpickler resolves a fixed allow-list of
globals (that class, numpy's array/dtype rebuilders and joblib's array wrapper, mapped to a local stand-in)
to objects imported here, never by importing what the file names; anything else (`os.system`, `open`,
`eval`, another estimator) stops the load before it is called. Extension opcodes resolve through the same
allow-list and persistent ids are refused, so no code from the file can run.
"""

from __future__ import annotations

import _codecs
import inspect
import io
import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tator.clip.head import ClassifierHead, build_head
from tator.errors import ClassifierFormatUnsafe, ClassifierLoadFailed

log = logging.getLogger(__name__)

JOBLIB_PREFIXES = (b"\x78", b"\x1f\x8b", b"BZ", b"\xfd7zXZ", b"\x5d\x00", b"\x04\x22\x4d\x18")
MAX_ARRAY_BYTES = 1024 * 1024 * 1024


class _ArrayWrapper:
    """Stands in for `joblib.numpy_pickle.NumpyArrayWrapper`: its state says how to read the array bytes."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


def _trusted_globals() -> dict[tuple[str, str], Any]:
    from sklearn.linear_model import LogisticRegression

    # The rebuilders numpy itself names when pickling (numpy 1.x spells the module numpy.core).
    reconstruct = np.zeros(1).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    scalar = np.float64(0).__reduce__()[0]
    trusted: dict[tuple[str, str], Any] = {
        ("sklearn.linear_model._logistic", "LogisticRegression"): LogisticRegression,
        ("sklearn.linear_model.logistic", "LogisticRegression"): LogisticRegression,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapper,
        ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapper,
        ("_codecs", "encode"): _codecs.encode,  # protocol 2 spells bytes as encode(str, "latin1")
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        trusted[(module, "_reconstruct")] = reconstruct
        trusted[(module, "scalar")] = scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        trusted[(module, "_frombuffer")] = frombuffer
    return trusted


class RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with an allow-list of globals and joblib's inline arrays understood."""

    dispatch = pickle._Unpickler.dispatch.copy()
    stack: list[Any]  # the unpickler's value stack (set by `load`)

    def __init__(self, handle: BinaryIO, trusted: dict[tuple[str, str], Any], size: int) -> None:
        super().__init__(handle)
        self.handle = handle
        self.trusted = trusted
        self.size = size

    def find_class(self, module: str, name: str) -> Any:
        found = self.trusted.get((module, name))
        if found is None:
            raise ClassifierFormatUnsafe(
                f"the file refers to {module}.{name}, which a classifier head may not contain",
                reference=f"{module}.{name}"[:200],
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise ClassifierFormatUnsafe("the file uses persistent ids, which a classifier head may not contain")

    def load_build(self) -> None:
        target = self.stack[-2] if len(self.stack) >= 2 else None
        if isinstance(target, type) or inspect.isroutine(target):
            # BUILD on a class or function would set attributes process-wide; only instances get state.
            raise ClassifierFormatUnsafe("the file sets attributes on a class or function")
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        if isinstance(self.stack[-1], _ArrayWrapper):
            wrapper = self.stack.pop()
            self.stack.append(self._read_wrapped(wrapper.state))

    dispatch[pickle.BUILD[0]] = load_build  # type: ignore[assignment]

    def _read_wrapped(self, state: Any) -> np.ndarray:
        """joblib writes each array's bytes right after its wrapper; read them the same way, bounded."""
        if not isinstance(state, dict) or not isinstance(state.get("dtype"), np.dtype):
            raise ClassifierLoadFailed("malformed joblib array record")
        dtype: np.dtype[Any] = state["dtype"]
        shape = tuple(int(v) for v in state.get("shape", ()))
        if dtype.hasobject:  # a nested pickle stream, read under the same allow-list
            nested = RestrictedUnpickler(self.handle, self.trusted, self.size).load()
            return np.asarray(nested)
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        nbytes = count * dtype.itemsize
        if count < 0 or nbytes > min(self.size, MAX_ARRAY_BYTES):
            raise ClassifierLoadFailed("joblib array is larger than the file")
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self.handle.read(1)
            self.handle.read(int.from_bytes(padding or b"\x00", "little"))
        data = self.handle.read(nbytes)
        if len(data) != nbytes:
            raise ClassifierLoadFailed("joblib array data is truncated")
        array = np.frombuffer(data, dtype=dtype, count=count)
        if state.get("order") == "F":
            return np.asarray(array.reshape(shape[::-1]).transpose())
        return np.asarray(array.reshape(shape))


def restricted_load(data: bytes) -> Any:
    """Unpickle `data` (plain pickle or uncompressed joblib) under the allow-list."""
    if data.startswith(JOBLIB_PREFIXES):
        raise ClassifierLoadFailed("compressed joblib files are not supported; save the head uncompressed")
    trusted = _trusted_globals()
    try:
        return RestrictedUnpickler(io.BytesIO(data), trusted, len(data)).load()
    except (ClassifierFormatUnsafe, ClassifierLoadFailed):
        raise
    except Exception as exc:  # any other unpickling failure is a malformed file, whatever its type
        raise ClassifierLoadFailed(f"the file could not be read as a pickle: {type(exc).__name__}: {exc}") from exc


def head_from_estimator(model: Any, *, source_name: str) -> ClassifierHead:
    """A safe head equivalent to a fitted LogisticRegression's `predict_proba` (binary and multinomial)."""
    from sklearn.linear_model import LogisticRegression

    if type(model) is not LogisticRegression:
        raise ClassifierFormatUnsafe(f"{source_name} holds a {type(model).__name__}, not a LogisticRegression")
    try:
        coef = np.asarray(model.coef_, dtype=np.float32)
        intercept = np.asarray(model.intercept_, dtype=np.float32).reshape(-1)
        classes = [str(c) for c in np.asarray(model.classes_).tolist()]
    except (AttributeError, TypeError, ValueError) as exc:
        raise ClassifierLoadFailed(f"{source_name} is not a fitted LogisticRegression: {exc}") from exc
    if coef.ndim != 2 or coef.shape[0] != intercept.shape[0]:
        raise ClassifierLoadFailed(f"{source_name}: coef_ and intercept_ do not match")
    if coef.shape[0] == 1 and len(classes) == 2:  # binary: sigmoid(z) == softmax([-z/2, z/2])
        coef = np.concatenate([-coef / 2, coef / 2])
        intercept = np.concatenate([-intercept / 2, intercept / 2])
    meta = {
        "classifier_type": "logreg",
        "solver": str(getattr(model, "solver", "")),
        # Exactly the estimator's function of its input (tator's embeddings already arrive L2-normalised).
        "normalize_embeddings": False,
        "converted_from": source_name,
        "legacy_index_classes": all(c.lstrip("-").isdigit() for c in classes),
    }
    return build_head(classes, [(coef, intercept)], activation="none", meta=meta)


def convert_legacy(path: Path, *, reader: Callable[[Path], bytes] = Path.read_bytes) -> ClassifierHead:
    """Read a legacy head file under the restricted loader and return its safe equivalent."""
    model = restricted_load(reader(path))
    head = head_from_estimator(model, source_name=path.name)
    log.info("classifier.legacy_converted file=%s classes=%d dim=%d", path.name, len(head.classes), head.embedding_dim)
    return head
