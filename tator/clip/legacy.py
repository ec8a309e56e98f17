"""Legacy `.pkl` / `.joblib` heads: read with a restricted unpickler, converted to the safe format.

Only a plain scikit-learn `LogisticRegression` is accepted. The unpickler resolves a fixed allow-list of
globals (that class, checked stand-ins for numpy's array/dtype rebuilders in `legacy_arrays`, and joblib's
array wrapper) to objects defined here, never by importing what the file names; anything else (`os.system`,
`open`, `eval`, another estimator) stops the load before it is called. Extension opcodes resolve through the
same allow-list and persistent ids are refused, so no code from the file can run. The server reads these files
only in a short-lived child process with memory and time limits (`legacy_child`), so even a gadget nobody has
thought of can only kill that child.
"""

from __future__ import annotations

import inspect
import io
import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tator.clip import legacy_arrays as arrays
from tator.clip.head import ClassifierHead, build_head
from tator.errors import ClassifierFormatUnsafe, ClassifierLoadFailed

log = logging.getLogger(__name__)

JOBLIB_PREFIXES = (b"\x78", b"\x1f\x8b", b"BZ", b"\xfd7zXZ", b"\x5d\x00", b"\x04\x22\x4d\x18")


class _ArrayWrapper:
    """Stands in for `joblib.numpy_pickle.NumpyArrayWrapper`: its state says how to read the array bytes."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


class LogisticRegressionState:
    """Stands in for scikit-learn's `LogisticRegression`: keeps the pickled attributes as plain data, so
    neither sklearn's code nor its import runs while reading a file."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
            raise ClassifierLoadFailed("the LogisticRegression in the file has a malformed state")
        self.state = state


def _estimator_attributes(model: Any, source_name: str) -> dict[str, Any]:
    """The fitted attributes of a LogisticRegression (read from a file, or a live sklearn estimator)."""
    if isinstance(model, LogisticRegressionState):
        state: dict[str, Any] = getattr(model, "state", {})
        return state
    kind = type(model)
    if kind.__name__ == "LogisticRegression" and kind.__module__.startswith("sklearn.linear_model"):
        return dict(vars(model))
    raise ClassifierFormatUnsafe(f"{source_name} holds a {kind.__name__}, not a LogisticRegression")


def _trusted_globals() -> dict[tuple[str, str], Any]:
    # numpy's own rebuilders are never handed over: each name maps to a checked equivalent (legacy_arrays).
    trusted: dict[tuple[str, str], Any] = {
        ("sklearn.linear_model._logistic", "LogisticRegression"): LogisticRegressionState,
        ("sklearn.linear_model.logistic", "LogisticRegression"): LogisticRegressionState,
        ("numpy", "ndarray"): arrays.NdarrayRef,
        ("numpy", "dtype"): arrays.make_dtype,
        ("joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapper,
        ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapper,
        ("_codecs", "encode"): arrays.latin1_encode,  # protocol 2 spells bytes as encode(str, "latin1")
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x spells it numpy.core
        trusted[(module, "_reconstruct")] = arrays.reconstruct
        trusted[(module, "scalar")] = arrays.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        trusted[(module, "_frombuffer")] = arrays.frombuffer
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
        if isinstance(target, arrays.PendingArray | np.dtype):  # numpy's __setstate__ trusts its input
            state = self.stack.pop()
            built = (
                target.build(state) if isinstance(target, arrays.PendingArray) else arrays.build_dtype(target, state)
            )
            self.stack[-1] = built
            return
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
        if dtype == np.dtype(object):  # a nested pickle stream, read under the same allow-list
            nested = RestrictedUnpickler(self.handle, self.trusted, self.size).load()
            if not isinstance(nested, np.ndarray):
                raise ClassifierFormatUnsafe("a joblib object array holds something other than an array")
            return nested
        dtype = arrays.check_dtype(dtype)
        shape, count = arrays.check_shape(tuple(state.get("shape", ())), dtype.itemsize)
        nbytes = count * dtype.itemsize
        if nbytes > self.size:
            raise ClassifierLoadFailed("joblib array is larger than the file")
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self.handle.read(1)
            self.handle.read(int.from_bytes(padding or b"\x00", "little"))
        data = self.handle.read(nbytes)
        if len(data) != nbytes:
            raise ClassifierLoadFailed("joblib array data is truncated")
        if state.get("order") == "F":
            return arrays.array_from_bytes(data, dtype, shape[::-1]).transpose().copy(order="F")
        return arrays.array_from_bytes(data, dtype, shape)


def restricted_load(data: bytes) -> Any:
    """Unpickle `data` (plain pickle or uncompressed joblib) under the allow-list."""
    if data.startswith(JOBLIB_PREFIXES):
        raise ClassifierLoadFailed("compressed joblib files are not supported; save the head uncompressed")
    trusted = _trusted_globals()
    try:
        return RestrictedUnpickler(io.BytesIO(data), trusted, len(data)).load()
    except (ClassifierFormatUnsafe, ClassifierLoadFailed, MemoryError):
        raise
    except Exception as exc:  # any other unpickling failure is a malformed file, whatever its type
        raise ClassifierLoadFailed(f"the file could not be read as a pickle: {type(exc).__name__}: {exc}") from exc


def head_from_estimator(model: Any, *, source_name: str) -> ClassifierHead:
    """A safe head equivalent to a fitted LogisticRegression's `predict_proba` (binary and multinomial)."""
    attrs = _estimator_attributes(model, source_name)
    try:
        coef = np.asarray(attrs["coef_"], dtype=np.float32)
        intercept = np.asarray(attrs["intercept_"], dtype=np.float32).reshape(-1)
        classes = [str(c) for c in np.asarray(attrs["classes_"]).tolist()]
    except (KeyError, TypeError, ValueError) as exc:
        raise ClassifierLoadFailed(f"{source_name} is not a fitted LogisticRegression: {exc}") from exc
    if coef.ndim != 2 or coef.shape[0] != intercept.shape[0]:
        raise ClassifierLoadFailed(f"{source_name}: coef_ and intercept_ do not match")
    if coef.shape[0] == 1 and len(classes) == 2:  # binary: sigmoid(z) == softmax([-z/2, z/2])
        coef = np.concatenate([-coef / 2, coef / 2])
        intercept = np.concatenate([-intercept / 2, intercept / 2])
    meta = {
        "classifier_type": "logreg",
        "solver": str(attrs.get("solver", ""))[:40],
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
