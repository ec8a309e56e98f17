"""Every registered job kind keeps the job-function contract, so any executor can run it."""

from __future__ import annotations

import inspect
import pickle
import sys
from pathlib import Path

from pydantic import BaseModel

from tator.job_kinds import JOB_KINDS, NO_COMPLETION, build_job_kinds
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.storage.db import Database, SelectionStore
from tator.storage.layout import Layout


def test_every_job_kind_is_a_module_level_function_of_plain_data() -> None:
    assert len({kind.name for kind in JOB_KINDS}) == len(JOB_KINDS)
    for kind in JOB_KINDS:
        fn = kind.run
        assert inspect.isfunction(fn) and fn.__qualname__ == fn.__name__, f"{kind.name}: not module-level"
        assert getattr(sys.modules[fn.__module__], fn.__name__) is fn, kind.name
        assert pickle.loads(pickle.dumps(fn)) is fn, kind.name  # travels by reference to another process
        assert len(inspect.signature(fn).parameters) == 2, kind.name  # run(params, ctx)
        for model in (kind.params, kind.result):
            assert issubclass(model, BaseModel), kind.name
            model.model_json_schema()  # plain, serialisable fields only
        hints = inspect.get_annotations(fn, eval_str=True)
        assert hints["return"] is kind.result, kind.name
        assert kind.resource in ("gpu", "cpu"), kind.name


def test_every_job_kind_is_registered_with_its_completion_step(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "uploads", tmp_path / "logs")
    selections = ModelSelections(SelectionStore(Database(tmp_path / "db.sqlite3")))
    kinds = build_job_kinds(layout, selections, ModelRegistry({}, device=lambda: "cpu"))
    assert kinds.names() == sorted(kind.name for kind in JOB_KINDS)
    for registered in kinds:
        assert (registered.complete is None) == (registered.kind.name in NO_COMPLETION), registered.kind.name
