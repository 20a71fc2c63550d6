"""Every failure a stage raises on purpose says whether a retry can help (common.errors)."""

from __future__ import annotations

import inspect

import pytest

from common import errors
from common.errors import FatalError, PipelineError, RetriableError, failure_fields, is_retriable
from ingestion import errors as ingestion_errors
from lake import errors as lake_errors
from load import errors as load_errors
from transform import errors as transform_errors

MODULES = (ingestion_errors, transform_errors, load_errors, lake_errors)
_BASES = {PipelineError, RetriableError, FatalError}


def _failures() -> list[type[BaseException]]:
    return [
        cls
        for module in MODULES
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, PipelineError) and cls.__module__ == module.__name__
    ]


@pytest.mark.parametrize("cls", _failures(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_stage_failure_is_retriable_or_fatal(cls: type[BaseException]) -> None:
    stage_bases = [b for b in cls.__mro__ if b.__name__.endswith("Error") and b.__module__ == cls.__module__]
    if cls in {ingestion_errors.IngestionError, transform_errors.TransformError, load_errors.LoadError}:
        assert is_retriable(cls("x")) is None  # a stage's base says nothing by itself
        return
    assert stage_bases, cls
    assert is_retriable(cls("x")) is not None, f"{cls.__name__} derives from neither RetriableError nor FatalError"


def test_no_class_name_is_used_by_two_packages() -> None:
    names = [cls.__name__ for cls in _failures()]
    assert len(names) == len(set(names)), sorted(names)


def test_fatal_wins_and_the_fields_name_the_kind() -> None:
    assert is_retriable(ingestion_errors.StateError("ssm throttled")) is True
    assert is_retriable(ingestion_errors.CorruptStateError("not gzip")) is False  # a StateError that no retry fixes
    assert is_retriable(ValueError("ours, unclassified")) is None
    assert failure_fields(lake_errors.CommitRecordError("runs/0000000001.json: bad")) == {
        "error_type": "CommitRecordError",
        "error": "runs/0000000001.json: bad",
        "failure_kind": "fatal",
    }
    assert failure_fields(load_errors.WarehouseLoadError("gone"))["failure_kind"] == "retriable"
    assert errors.failure_fields(KeyError("k"))["failure_kind"] == "unclassified"
