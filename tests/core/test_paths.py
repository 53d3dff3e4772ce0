"""portable_path: how records name files without the machine's own directories."""

from __future__ import annotations

from pathlib import Path

from gato_eval.core.paths import BUNDLED_DIR, PACKAGE_DIR, portable_path


def test_package_files_are_named_from_the_package():
    assert portable_path(BUNDLED_DIR / "model") == "<package>/bundled/model"
    assert portable_path(PACKAGE_DIR) == "<package>"


def test_data_root_files_are_named_from_gato_eval_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    dataset = tmp_path / "home" / "datasets" / "babyai-go-to-local-v0"
    assert portable_path(dataset) == "$GATO_EVAL_HOME/datasets/babyai-go-to-local-v0"


def test_working_directory_files_are_relative_and_others_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert portable_path(tmp_path / "models" / "mine") == "models/mine"
    assert portable_path(Path("models/mine")) == "models/mine"
    elsewhere = Path("/opt/shared/ckpt")
    assert portable_path(elsewhere) == str(elsewhere)
