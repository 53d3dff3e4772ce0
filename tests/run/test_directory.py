"""The run directory (`gato_eval.run.directory`): where a run may start, its typed metadata."""

from __future__ import annotations

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.run.directory import create_run, load_run, refuse_existing_run
from gato_eval.run.metadata import RunMetadata

METADATA = {
    "suite": {"name": "tiny", "version": 1, "tasks": ["dmc-cartpole-balance"]},
    "episodes_per_task": 2,
    "seed": 5,
    "num_envs": 1,
    "tasks": {},
    "policy": None,
    "label": None,
    "videos": 0,
}


def test_a_run_starts_only_where_none_is(tmp_path):
    refuse_existing_run(tmp_path / "new")  # nothing there: fine
    run = create_run(tmp_path / "run", METADATA)
    with pytest.raises(GatoEvalError, match="already holds a run: pass --resume"):
        refuse_existing_run(run.path)
    with pytest.raises(GatoEvalError, match="already holds a run: pass --resume"):
        create_run(run.path, METADATA)  # the same check, in the same words
    (tmp_path / "file").write_text("x")
    with pytest.raises(GatoEvalError, match="exists and is not a directory"):
        refuse_existing_run(tmp_path / "file")


def test_a_loaded_run_carries_its_typed_metadata(tmp_path):
    created = create_run(tmp_path / "run", METADATA)
    loaded = load_run(created.path)
    assert isinstance(loaded.typed_metadata, RunMetadata)
    assert loaded.typed_metadata == created.typed_metadata
    assert loaded.typed_metadata.seed == 5 and loaded.typed_metadata.suite.name == "tiny"
