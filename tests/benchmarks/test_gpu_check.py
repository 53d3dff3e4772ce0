"""benchmarks/gpu_check: its dry run (every step at toy sizes on the CPU, as CI runs it), its
one-line stop without CUDA, its step limits, and the bf16 shards that bring a model back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "benchmarks" / "gpu_check"
sys.path.insert(0, str(CHECK))

from gpu_plan import DRY_PLAN  # noqa: E402
from gpu_runner import StepProcess  # noqa: E402
from gpu_train import MANIFEST, assemble_checkpoint, export_shards  # noqa: E402

from gato_eval.core.errors import GatoEvalError  # noqa: E402
from gato_eval.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from gato_eval.model.config import get_preset  # noqa: E402
from gato_eval.model.transformer import GatoModel  # noqa: E402


def run_check(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("GATO_GPU_CHECK_DEVICE", None)
    return subprocess.run(
        [sys.executable, str(CHECK), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.mark.timeout(900)  # about a minute on 2 idle cores; minutes while other jobs load them
def test_the_dry_run_runs_every_step_and_brings_a_loadable_model_back(tmp_path):
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    done = run_check("--dry-run", "--out", str(out), "--scratch", str(scratch))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    document = json.loads((out / "gpu.json").read_text())
    steps = document["steps"]
    expected = ["setup", "tests", "decode", "suite", "collect", "train", "evaluate"]
    assert list(steps) == expected
    assert all(step["status"] == "ok" for step in steps.values()), steps
    assert steps["tests"]["result"]["summary"].startswith("3 passed")
    decode = steps["decode"]["result"]["presets"][0]
    assert decode["preset"] == "gato-tiny" and decode["control_hz_batch1"] > 0
    assert decode["largest"]["batch"] == DRY_PLAN.decode.max_batch
    suite = steps["suite"]["result"]
    assert [row["task"] for row in suite["tasks"]] == list(DRY_PLAN.suite.tasks)
    assert 0 < suite["total"]["model_share"] + suite["total"]["env_share"] <= 1
    train = steps["train"]["result"]
    assert train["steps"] == DRY_PLAN.train.steps and train["stopped_by"] == "steps"
    scores = steps["evaluate"]["result"]["tasks"]
    assert [row["task"] for row in scores] == list(DRY_PLAN.train.tasks)
    assert all(row["episodes"] == 1 for row in scores)
    markdown = (out / "gpu.md").read_text()
    assert "| decode | ok |" in markdown and "control Hz" in markdown
    assert "gato-tiny" in (out / "gpu_check.log").read_text()
    # What comes back from a loan: at most 8 files, each under the shard limit.
    shards = sorted(out.glob("model-bf16-*.safetensors"))
    assert len(list(out.iterdir())) <= 8 and len(shards) >= 2
    assert all(path.stat().st_size <= DRY_PLAN.train.shard_bytes for path in shards)
    trained, _, _ = load_checkpoint(train["model_dir"])
    rebuilt, _, tokenizer = load_checkpoint(assemble_checkpoint(out, tmp_path / "back"))
    assert tokenizer is not None
    for (name, want), (_, got) in zip(
        trained.state_dict().items(), rebuilt.state_dict().items(), strict=True
    ):
        assert torch.equal(want.to(torch.bfloat16).float(), got), name


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_the_check_stops_at_once_with_one_line(tmp_path):
    started = time.monotonic()
    done = run_check("--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "CUDA is not available" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
    assert time.monotonic() - started < 60


def test_a_step_past_its_limit_is_stopped_with_what_it_started(tmp_path):
    child = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(child)!r}, 'w').write(str(p.pid)); print('started', flush=True); "
        "time.sleep(60)"
    )
    lines = []
    started = time.monotonic()
    step = StepProcess("slow", [sys.executable, "-c", script], 3.0, tmp_path / "r", lines.append)
    outcome = step.finish()
    assert outcome.status == "timeout" and time.monotonic() - started < 15
    assert lines == ["[slow] started"]
    pid = int(child.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)  # reaped by init once killed
    state = Path(f"/proc/{pid}/stat")
    assert not state.exists() or state.read_text().split()[2] == "Z"


def test_a_failing_step_reports_its_error_line(tmp_path):
    result = tmp_path / "r.json"
    script = f"import json; open({str(result)!r}, 'w').write(json.dumps({{'error': 'no data'}}))"
    script += "; raise SystemExit(1)"
    outcome = StepProcess("x", [sys.executable, "-c", script], 30, result, print).finish()
    assert outcome.status == "failed" and outcome.error == "exit code 1: no data"


def test_bf16_shards_respect_the_size_limit_and_a_damaged_one_is_refused(tmp_path):
    torch.manual_seed(0)
    model = GatoModel(get_preset("gato-tiny"))
    source = save_checkpoint(model, tmp_path / "model")
    out = tmp_path / "shards"
    out.mkdir()
    exported = export_shards(source, out, shard_bytes=600_000)
    assert len(exported["files"]) >= 4 and exported["largest_bytes"] <= 600_000 + 4096
    rebuilt, config, _ = load_checkpoint(assemble_checkpoint(out, tmp_path / "back"))
    assert config == model.config
    want = model.blocks[0].attn.qkv.weight.detach().to(torch.bfloat16).float()
    assert torch.equal(rebuilt.blocks[0].attn.qkv.weight, want)
    damaged = out / exported["files"][1]
    damaged.write_bytes(damaged.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(GatoEvalError, match="sha256"):
        assemble_checkpoint(out, tmp_path / "again")
    (out / MANIFEST).unlink()
    with pytest.raises(GatoEvalError, match=r"model-bf16\.json"):
        assemble_checkpoint(out, tmp_path / "again")


def test_the_packed_packages_are_the_simulators_not_what_the_gpu_machine_has():
    from gpu_deps import missing_on_device, missing_requirements

    carried = missing_on_device()
    assert {"gymnasium", "ale-py", "mujoco", "dm-control", "metaworld", "minigrid"} <= set(carried)
    assert {"torch", "numpy", "scipy", "pandas", "sentencepiece", "imageio-ffmpeg"}.isdisjoint(
        carried
    )  # the image's own (CUDA torch above all), or not needed by the check (videos)
    assert carried["mujoco"] == "3.3.0"  # the project's pins, as installed here
    assert missing_requirements(ROOT / "pyproject.toml") == []
