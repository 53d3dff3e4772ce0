"""The CLI skeleton: help, version, usage errors, lazy imports."""

from __future__ import annotations

import subprocess
import sys

from gato_eval import __version__

# What `--help` must not load (pyproject.toml [tool.importlinter] checks the same statically).
HEAVY_MODULES = (
    "ale_py", "mujoco", "dm_control", "metaworld", "ray", "minigrid", "procgen", "torch",
    "gymnasium", "matplotlib", "numpy",
)  # fmt: skip


def test_help_lists_every_command_group(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("run", "plot", "data", "train", "ls", "finetune-ablation", "report"):
        assert name in result.stdout


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"gato-eval {__version__}"


def test_unknown_command_is_one_line_exit_2(cli):
    result = cli("no-such-command")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_bad_option_is_one_line_exit_2(cli):
    result = cli("run", "suite", "--no-such-option")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--no-such-option" in result.stderr


def test_bad_option_value_is_one_line_exit_2(cli):
    result = cli("run", "suite", "--episodes", "many")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--episodes" in result.stderr


def test_help_imports_no_simulator():
    code = (
        "import sys; from gato_eval.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "gato_eval", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and __version__ in out.stdout
