"""A corpus of hostile or mistaken inputs, each run through the real `gato-eval` entry point.

Every `Case` builds its inputs in a fresh sandbox directory (copies of pristine `Assets`: a tiny
Gato checkpoint, finished runs, demonstration data sets), runs one command there, and
`check_case` demands what a user of a serious tool expects:

- a non-zero exit (1 for errors, 2 for usage errors),
- no traceback, and exactly one `error: ...` line on stderr, naming the problem (`expect`);
  nothing else on stderr unless the case says the command legitimately reports progress first
  (`preamble`: training's data preparation, a run's progress bars),
- every file that existed before is byte-identical afterwards, and no new file appears except
  under the paths a case names (`creates`: e.g. the run directory a run wrote before a policy
  failed at its first step).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cli_runner import invoke_cli as run_cli  # the real entry point, in-process

SUITE = {
    "name": "hostile",
    "version": 1,
    "episodes": 2,
    "tasks": ["dmc-cartpole-balance"],
    "max_episode_steps": {"dmc": 10},
}
TINY_GRID = Path(__file__).resolve().parents[2] / "benchmarks" / "ablation_tiny.json"
TRAIN_FAST = ["--steps", "2", "--batch-size", "2", "--context-length", "64"]
TRAIN_FAST += ["--device", "cpu", "--threads", "1"]


# -- assets: made once, only ever copied -------------------------------------------------------


@dataclass(frozen=True)
class Assets:
    """Pristine inputs the cases copy (never touch these in place).

    checkpoint / other_checkpoint: two tiny random-init Gato checkpoints (no text tokenizer);
    random_run / gato_run: finished runs of SUITE (random policy; `checkpoint`, prompt none);
    home: a GATO_EVAL_HOME with data sets of dmc-cartpole-balance and babyai-go-to-red-ball.
    """

    checkpoint: Path
    other_checkpoint: Path
    random_run: Path
    gato_run: Path
    home: Path


def build_assets(root: Path) -> Assets:
    """Make the assets under `root` (about 10 s: two tiny models, two runs, two data sets)."""
    import torch

    from gato_eval.collection.demonstrations import collect_demonstrations
    from gato_eval.model import GatoModel, get_preset, save_checkpoint

    root.mkdir(parents=True, exist_ok=True)
    checkpoints = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        config = get_preset("gato-tiny", num_layers=2, dropout=0.0, context_length=64)
        checkpoints.append(save_checkpoint(GatoModel(config).eval(), root / f"checkpoint-{seed}"))
    suite = root / "suite.json"
    suite.write_text(json.dumps(SUITE))
    runs = {"random": ["--model", "random"]}
    runs["gato"] = ["--model", checkpoints[0], "--prompt", "none", "--device", "cpu"]
    for name, args in runs.items():
        result = run_cli("run", "suite", suite, *args, "--out", root / f"{name}-run")
        assert result.exit_code == 0, result.stderr
    home = root / "home"
    with contextlib.redirect_stdout(io.StringIO()):  # minigrid's level-generator chatter
        for task in ("dmc-cartpole-balance", "babyai-go-to-red-ball"):
            collect_demonstrations(task, 2, data_dir=home / "datasets")
    return Assets(checkpoints[0], checkpoints[1], root / "random-run", root / "gato-run", home)


# -- the corpus --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile input: `build(sandbox, assets)` makes its files and returns the argv."""

    name: str
    build: Callable[[Path, Assets], list]
    expect: str
    code: int = 1
    preamble: bool = False
    creates: tuple[str, ...] = ()


def _copy(source: Path, target: Path) -> Path:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy(source, target)
    return target


def _suite(sandbox: Path, **changes) -> Path:
    path = sandbox / "suite.json"
    path.write_text(json.dumps({**SUITE, **changes}))
    return path


def _run_with_model(sandbox: Path, model: Path, *extra) -> list:
    return ["run", "suite", _suite(sandbox), "--model", model, "--prompt", "none",
            "--device", "cpu", "--out", sandbox / "out", *extra]  # fmt: skip


def _checkpoint(sandbox: Path, assets: Assets, edit: Callable[[Path], None]) -> Path:
    directory = _copy(assets.checkpoint, sandbox / "checkpoint")
    edit(directory)
    return directory


def _model(edit: Callable[[Path], None]) -> Callable[[Path, Assets], list]:
    """A case that evaluates a copy of the checkpoint after `edit(directory)`."""
    return lambda sandbox, assets: _run_with_model(sandbox, _checkpoint(sandbox, assets, edit))


def _weights(transform: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        path = directory / "model.safetensors"
        path.write_bytes(transform(path.read_bytes()))

    return edit


def _config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        path = directory / "config.json"
        document = json.loads(path.read_text())
        change(document)
        path.write_text(json.dumps(document))

    return edit


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


def _nan_weights(directory: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(directory / "model.safetensors")
    first = sorted(tensors)[0]
    tensors[first][...] = float("nan")
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})


def _file_model(make: Callable[[Path], None]) -> Callable[[Path, Assets], list]:
    """A case that passes a single file as --model."""

    def build(sandbox: Path, assets: Assets) -> list:
        path = sandbox / "model.bin"
        make(path)
        return ["run", "suite", _suite(sandbox), "--model", path, "--out", sandbox / "out"]

    return build


def _torch_save(path: Path) -> None:
    import torch

    torch.save({"weight": torch.zeros(2)}, path)


def _suite_case(**changes) -> Callable[[Path, Assets], list]:
    return lambda sandbox, assets: [
        "run", "suite", _suite(sandbox, **changes), "--model", "random", "--out", sandbox / "out",
    ]  # fmt: skip


def _raw_suite(text: bytes) -> Callable[[Path, Assets], list]:
    def build(sandbox: Path, assets: Assets) -> list:
        path = sandbox / "suite.json"
        path.write_bytes(text)
        return ["run", "suite", path, "--model", "random", "--out", sandbox / "out"]

    return build


def _random_run(*options) -> Callable[[Path, Assets], list]:
    return lambda sandbox, assets: [
        "run", "suite", _suite(sandbox), "--model", "random", *options, "--out", sandbox / "out",
    ]  # fmt: skip


def _train(*options) -> Callable[[Path, Assets], list]:
    return lambda sandbox, assets: [
        "train", "--out", sandbox / "train", "--mixture", "no-control", *TRAIN_FAST, *options,
    ]  # fmt: skip


def _edited_run(edit: Callable[[Path], None], *options) -> Callable[[Path, Assets], list]:
    """`run suite --resume` on a copy of the finished random run after `edit(run_dir)`."""

    def build(sandbox: Path, assets: Assets) -> list:
        run = _copy(assets.random_run, sandbox / "run")
        edit(run)
        return ["run", "suite", "--resume", "--out", run, *options]

    return build


def _edited(source: Path, target: Path, edit: Callable[[Path], None]) -> Path:
    """A copy of the run directory `source` at `target`, changed by `edit(target)`."""
    run = _copy(source, target)
    edit(run)
    return run


def _stray_record(run: Path) -> None:
    """Append a copy of the first record with an episode index past the run's plan."""
    first = json.loads((run / "episodes.jsonl").read_text().splitlines()[0])
    metadata = json.loads((run / "metadata.json").read_text())
    first["episode"] = metadata["episodes_per_task"] + 5
    with open(run / "episodes.jsonl", "a") as handle:
        handle.write(json.dumps(first) + "\n")


def _metadata(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        document = json.loads((run / "metadata.json").read_text())
        change(document)
        (run / "metadata.json").write_text(json.dumps(document))

    return edit


def _restamp(data: Path) -> None:
    """Record a data set file's new size and SHA-256, as a tool that wrote it would."""
    from gato_eval.core.durable import file_sha256

    metadata = json.loads((data / "metadata.json").read_text())
    metadata["gato_eval"]["main_file_sha256"] = file_sha256(data / "main_data.hdf5")
    metadata["gato_eval"]["main_file_bytes"] = (data / "main_data.hdf5").stat().st_size
    (data / "metadata.json").write_text(json.dumps(metadata))


def _nan_observation(home: Path) -> None:
    import h5py
    import numpy as np

    # Every episode: which demonstration prompts an episode depends on its seed (and a
    # demonstration from the episode's own start is skipped), so one damaged episode may go unread.
    data = home / "datasets" / "dmc-cartpole-balance-v0" / "data"
    with h5py.File(data / "main_data.hdf5", "r+") as handle:
        for name in handle:
            observations = handle[name]["observations"]["continuous"]
            values = observations[...]
            values[3, 1] = np.nan
            observations[...] = values
    _restamp(data)


def _with_home(edit: Callable[[Path], None], argv: Callable[[Path, Assets], list]):
    """A case whose GATO_EVAL_HOME is a copy of the assets' home after `edit(home)`."""

    def build(sandbox: Path, assets: Assets) -> list:
        home = _copy(assets.home, sandbox / "home")
        edit(home)
        return argv(sandbox, assets)

    return build


def _wrong_task(home: Path) -> None:
    datasets = home / "datasets"
    shutil.rmtree(datasets / "babyai-go-to-red-ball-v0")
    shutil.copytree(datasets / "dmc-cartpole-balance-v0", datasets / "babyai-go-to-red-ball-v0")


def _truncate_dataset(home: Path) -> None:
    main = home / "datasets" / "dmc-cartpole-balance-v0" / "data" / "main_data.hdf5"
    main.write_bytes(main.read_bytes()[:4096])


def _train_on(task: str) -> Callable[[Path, Assets], list]:
    return lambda sandbox, assets: ["train", "--out", sandbox / "train", "--mixture", task,
                                    *TRAIN_FAST]  # fmt: skip


def _run_prompted_on(task: str) -> Callable[[Path, Assets], list]:
    """run suite of the tiny checkpoint on `task`, prompted from the home's data sets."""
    return lambda sandbox, assets: ["run", "suite", _suite(sandbox, tasks=[task]), "--model",
                                    assets.checkpoint, "--device", "cpu", "--out",
                                    sandbox / "out"]  # fmt: skip


def _ablation(grid, sandbox: Path) -> list:
    return ["finetune-ablation", grid, "--out", sandbox / "ablation", "--max-cells", "1"]


def _grid(change: Callable[[dict], None]) -> Callable[[Path, Assets], list]:
    """A case that runs a copy of the shipped tiny grid after `change(grid)`."""

    def build(sandbox: Path, assets: Assets) -> list:
        grid = json.loads(TINY_GRID.read_text())
        change(grid)
        path = sandbox / "grid.json"
        path.write_text(json.dumps(grid))
        return _ablation(path, sandbox)

    return build


def _write(name: str, content: bytes | str) -> Callable[[Path], Path]:
    def make(sandbox: Path) -> Path:
        path = sandbox / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return make


def _pickle_file(path: Path) -> None:
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))


def _other_layout(document: dict) -> None:
    document["model"]["layout"]["text_vocab_size"] = 32000


CASES: list[Case] = [
    # -- checkpoints -------------------------------------------------------------------------
    Case("truncated-weights", _model(_weights(lambda b: b[:1000])), "is truncated or corrupted"),
    Case("empty-weights", _model(_weights(lambda b: b"")), "is truncated or corrupted"),
    Case("flipped-weight-bytes", _model(_weights(_flip_middle)), "is corrupted or was modified"),
    Case("empty-config", _model(lambda d: (d / "config.json").write_text("")), "not valid JSON"),
    Case(
        "pickle-as-weights",
        _model(lambda d: _pickle_file(d / "model.safetensors")),
        "is a Python pickle",
    ),
    Case("pickle-as-checkpoint", _file_model(_pickle_file), "is a Python pickle"),
    Case("torch-save-as-checkpoint", _file_model(_torch_save), "torch.save format"),
    Case("config-of-another-layout", _model(_config(_other_layout)), "token layout"),
    Case(
        "config-claims-a-million-layers",
        _model(_config(lambda c: c["model"].update(num_layers=10**6))),
        "holds 2 transformer blocks",
    ),
    Case(
        "config-claims-context-1e12",
        _model(_config(lambda c: c["model"].update(context_length=10**12))),
        "cannot allocate the key/value caches",
        preamble=True,
        creates=("out",),
    ),
    Case(
        "config-from-the-future",
        _model(_config(lambda c: c.update(format_version=99))),
        "format version 99 is not supported",
    ),
    Case("nan-weights", _model(_nan_weights), "is not finite"),
    Case(
        "checkpoint-without-config",
        _model(lambda d: (d / "config.json").unlink()),
        "config.json is missing",
    ),
    Case(
        "config-lists-a-file-outside",
        _model(_config(lambda c: c["files"].update({"../secret": "0" * 64}))),
        "bad entry in 'files'",
    ),
    # -- suites ------------------------------------------------------------------------------
    Case(
        "unknown-suite",
        lambda s, a: ["run", "suite", "defualt", "--model", "random"],
        "unknown suite 'defualt' (did you mean: default",
    ),
    Case("suite-json-syntax-error", _raw_suite(b'{"name": "x", "tasks": ['), "cannot read suite"),
    Case("suite-json-is-a-list", _raw_suite(b'["dmc-cartpole-balance"]'), "one JSON object"),
    Case("suite-file-is-binary", _raw_suite(bytes(range(256))), "cannot read suite file"),
    Case("suite-tasks-not-strings", _suite_case(tasks=[1, 2]), "'tasks' must be a list"),
    Case(
        "suite-tasks-a-string", _suite_case(tasks="dmc-cartpole-balance"), "'tasks' must be a list"
    ),
    Case(
        "suite-unknown-task",
        _suite_case(tasks=["dmc-cartpole-balanse"]),
        "unknown task 'dmc-cartpole-balanse' (did you mean: dmc-cartpole-balance",
    ),
    Case(
        "suite-step-caps-not-an-object",
        _suite_case(max_episode_steps=[1]),
        "'max_episode_steps' must map",
    ),
    Case("suite-absurd-episodes", _suite_case(episodes=10**12), "'episodes' must be in"),
    Case("suite-negative-episodes", _suite_case(episodes=-3), "'episodes' must be in"),
    Case(
        "suite-name-escapes-runs",
        lambda s, a: ["run", "suite", _suite(s, name="../../etc"), "--model", "random"],
        "the suite name must be",
    ),
    # -- counts and options ------------------------------------------------------------------
    # Out of an option's range: a usage error (2), like a value that does not parse (#23).
    Case("negative-episodes", _random_run("--episodes", "-1"), "'--episodes'", code=2),
    Case("absurd-episodes", _random_run("--episodes", "1000000000000"), "'--episodes'", code=2),
    Case("absurd-envs", _random_run("--envs", "100000"), "Invalid value for '--envs'", code=2),
    Case("negative-seed", _random_run("--seed", "-5"), "Invalid value for '--seed'", code=2),
    Case("infinite-step-timeout", _random_run("--step-timeout", "inf"), "'--step-timeout'", code=2),
    Case("nan-step-timeout", _random_run("--step-timeout", "nan"), "'--step-timeout'", code=2),
    Case("negative-video", _random_run("--video", "-1"), "Invalid value for '--video'", code=2),
    Case("episodes-not-a-number", _random_run("--episodes", "ten"), "Invalid value", code=2),
    Case("misspelt-option", _random_run("--epsiodes", "3"), "No such option", code=2),
    Case(
        "nan-temperature",
        lambda s, a: _run_with_model(s, _copy(a.checkpoint, s / "ck"), "--temperature", "nan"),
        "--temperature must be >= 0",
    ),
    Case(
        "absurd-prompt-tokens",
        lambda s, a: _run_with_model(
            s, _copy(a.checkpoint, s / "ck"), "--prompt-tokens", "1000000000"
        ),
        "--prompt-tokens must be in",
    ),
    Case("empty-model", _random_run("--model", ""), "--model must not be empty"),
    Case(
        "plugin-that-does-not-import",
        _random_run("--model", "no_such_pkg.agents:Agent"),
        "cannot import",
    ),
    Case("unknown-preset", _train("--preset", "gato-huge"), "unknown model preset 'gato-huge'"),
    Case("absurd-batch-size", _train("--batch-size", "1000000000"), "--batch-size must be in"),
    Case(
        "absurd-context-length",
        _train("--context-length", "100000000000"),
        "--context-length must be in",
    ),
    Case("negative-threads", _train("--threads", "-1"), "Invalid value for '--threads'", code=2),
    Case("nan-learning-rate", _train("--lr", "nan"), "--lr must be a finite number"),
    Case(
        "malformed-mixture-file",
        lambda s, a: _train("--mixture", _write("mix.json", "{bad")(s))(s, a),
        "is not valid JSON",
    ),
    # -- outputs -----------------------------------------------------------------------------
    Case(
        "out-is-a-file",
        lambda s, a: [*_random_run()(s, a)[:-1], _write("out", "x")(s)],
        "exists and is not a directory",
    ),
    Case(
        "out-below-a-file",
        lambda s, a: [*_random_run()(s, a)[:-1], _write("f", "x")(s) / "r"],
        "cannot write the run directory",
    ),
    Case(
        "out-unwritable",
        lambda s, a: [*_random_run()(s, a)[:-1], "/proc/gato-eval/run"],
        "cannot write the run directory",
    ),
    Case(
        "out-is-a-model-directory",
        lambda s, a: [*_random_run()(s, a)[:-1], _copy(a.checkpoint, s / "model")],
        "is not empty (config.json, model.safetensors) and holds no run",
    ),
    Case(
        "out-holds-a-finished-run",
        lambda s, a: [*_random_run()(s, a)[:-1], _copy(a.random_run, s / "run")],
        "already holds a run: pass --resume",
    ),
    Case(
        "train-out-is-a-file",
        lambda s, a: [
            "train",
            "--out",
            _write("t", "x")(s),
            "--mixture",
            "no-control",
            *TRAIN_FAST,
        ],
        "cannot write to the training output directory",
    ),
    Case(
        "report-out-is-a-file",
        lambda s, a: ["report", _copy(a.random_run, s / "run"), "--out", _write("r", "x")(s)],
        "cannot write the report",
    ),
    # -- resuming ----------------------------------------------------------------------------
    Case(
        "resume-with-another-model",
        lambda s, a: [
            "run",
            "suite",
            "--resume",
            "--out",
            _copy(a.gato_run, s / "run"),
            "--model",
            _copy(a.other_checkpoint, s / "other"),
            "--device",
            "cpu",
        ],
        "cannot resume",
    ),
    Case(
        "resume-a-model-directory",
        lambda s, a: ["run", "suite", "--resume", "--out", _copy(a.checkpoint, s / "ck")],
        "is not a run directory",
    ),
    Case(
        "resume-with-a-corrupt-record",
        _edited_run(
            lambda r: (r / "episodes.jsonl").write_bytes(
                b'{"task": "dmc-cartpole-balance"\n' + (r / "episodes.jsonl").read_bytes()
            )
        ),
        "episodes.jsonl:1 is corrupt",
    ),
    Case(
        "resume-suite-not-an-object",
        _edited_run(_metadata(lambda m: m.update(suite="abc"))),
        "metadata.json: 'suite' is not an object",
    ),
    Case(
        "resume-absurd-episode-count",
        _edited_run(_metadata(lambda m: m.update(episodes_per_task=10**12))),
        "'episodes_per_task' is 1000000000000, not an integer in [0, 1000000]",
    ),
    # Issue #18 point 10: every hand-edited metadata field is one line, never a traceback.
    Case(
        "resume-policy-not-an-object",
        _edited_run(_metadata(lambda m: m.update(policy="expert"))),
        "'policy' is 'expert', not an object describing the policy",
    ),
    Case(
        "resume-tasks-not-an-object",
        _edited_run(_metadata(lambda m: m.update(tasks="x"))),
        "'tasks' is not an object (task id -> task spec)",
    ),
    Case(
        "resume-seed-not-a-number",
        _edited_run(_metadata(lambda m: m.update(seed="abc"))),
        "'seed' is 'abc', not an integer in [0, 9223372036854775807]",
    ),
    Case(
        "resume-envs-not-a-number",
        _edited_run(_metadata(lambda m: m.update(num_envs="x"))),
        "'num_envs' is 'x', not an integer in [1, 4096]",
    ),
    Case(
        "resume-step-cap-not-a-number",
        _edited_run(_metadata(lambda m: m["suite"].update(max_episode_steps={"dmc": "x"}))),
        "'suite.max_episode_steps.dmc' is 'x', not an integer in [1, 1000000000]",
    ),
    Case(
        "report-with-several-bad-fields",
        lambda s, a: [
            "report",
            _edited(a.random_run, s / "run", _metadata(lambda m: m.update(seed=-1, tasks=[]))),
        ],
        "metadata.json has 2 problems:",
    ),
    # Issue #18 point 9: a record outside the plan is refused with its file and line.
    Case(
        "report-with-a-stray-record",
        lambda s, a: ["report", _edited(a.random_run, s / "run", _stray_record)],
        "lies outside the run's plan",
    ),
    Case("resume-another-seed", _edited_run(lambda r: None, "--seed", "3"), "cannot resume"),
    # -- data --------------------------------------------------------------------------------
    Case(
        "nan-observation-in-a-data-set",
        _with_home(_nan_observation, _train_on("dmc-cartpole-balance")),
        "contains nan",
        preamble=True,
        creates=("train", "home/corpus", "home/tokenizers"),
    ),
    Case(
        "nan-observation-in-a-prompt-data-set",
        _with_home(_nan_observation, _run_prompted_on("dmc-cartpole-balance")),
        "data set dmc-cartpole-balance (",
    ),
    Case(
        "data-set-of-the-wrong-task",
        _with_home(_wrong_task, _train_on("babyai-go-to-red-ball")),
        "it holds data set 'dmc-cartpole-balance', not 'babyai-go-to-red-ball'",
    ),
    Case(
        "truncated-data-set",
        _with_home(_truncate_dataset, _train_on("dmc-cartpole-balance")),
        "has 4096 bytes, not the recorded size",
    ),
    Case(
        "unknown-data-set",
        lambda s, a: ["data", "info", "dmc-cartpole-balanse"],
        "'dmc-cartpole-balanse' is neither a data set",
    ),
    Case(
        "collect-absurd-episodes",
        lambda s, a: [
            "data",
            "collect",
            "--task",
            "dmc-cartpole-balance",
            "--episodes",
            "1000000000000",
        ],
        "--episodes must be",
    ),
    # -- fine-tuning ablation grids ----------------------------------------------------------
    Case(
        "grid-json-syntax-error",
        lambda s, a: _ablation(_write("grid.json", "{")(s), s),
        "is not valid JSON",
    ),
    Case(
        "grid-name-escapes-ablations",
        _grid(lambda g: g.update(name="../../x")),
        "name must be letters, digits",
    ),
    Case(
        "grid-negative-demonstrations",
        _grid(lambda g: g.update(demonstrations=[-1, 5])),
        "every entry of demonstrations must be an integer >= 1",
    ),
    Case(
        "grid-unknown-variant",
        _grid(lambda g: g.update(variants=["everything"])),
        "unknown variant 'everything'",
    ),
    Case("unknown-grid-preset", lambda s, a: ["finetune-ablation", "huge"], "neither a preset"),
    Case(
        "pretrained-is-a-pickle",
        lambda s, a: [*_ablation("tiny", s), "--pretrained", f"all={_write('m.pt', b'x')(s)}"],
        "is not a checkpoint directory",
        creates=("ablation",),  # its lock and grid record are written before the check
    ),
    # -- scores ------------------------------------------------------------------------------
    Case(
        "reference-table-not-numbers",
        lambda s, a: [
            "report",
            _copy(a.random_run, s / "run"),
            "--out",
            s / "report",
            "--references",
            _write("refs.csv", "task,random,expert\ndmc-cartpole-balance,abc,1\n")(s),
        ],
        "'abc' is not a number",
    ),
]


# -- checking one case -------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root`."""
    hashes = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            hashes[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


@dataclass
class Outcome:
    """What a case did: its exit code, the error line, and what changed on disk."""

    name: str
    exit_code: int
    error: str
    changed: list[str]
    created: list[str]


def check_case(case: Case, sandbox: Path, assets: Assets) -> Outcome:
    """Run `case` in `sandbox` (cwd and GATO_EVAL_HOME there); AssertionError on a violation."""
    sandbox.mkdir(parents=True)
    (sandbox / "home").mkdir()
    argv = case.build(sandbox, assets)
    before = snapshot(sandbox)
    saved_cwd, saved_home = Path.cwd(), os.environ.get("GATO_EVAL_HOME")
    os.chdir(sandbox)
    os.environ["GATO_EVAL_HOME"] = str(sandbox / "home")
    try:
        result = run_cli(*argv)
    finally:
        os.chdir(saved_cwd)
        if saved_home is None:
            os.environ.pop("GATO_EVAL_HOME", None)
        else:
            os.environ["GATO_EVAL_HOME"] = saved_home
    after = snapshot(sandbox)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    outcome = Outcome(
        case.name,
        result.exit_code,
        errors[-1] if errors else "",
        sorted(p for p in before if after.get(p) != before[p]),
        sorted(p for p in after if p not in before),
    )
    where = f"{case.name}: {' '.join(map(str, argv))}\nstderr: {result.stderr[-3000:]}"
    assert result.exit_code == case.code, where
    assert "Traceback" not in result.stderr + result.stdout, where
    assert len(errors) == 1 and lines[-1] == errors[0], where
    assert case.preamble or len(lines) == 1, where
    assert case.expect in errors[0], where
    assert not outcome.changed, f"{where}\nchanged: {outcome.changed}"
    allowed = tuple(f"{prefix}/" for prefix in case.creates)
    strays = [p for p in outcome.created if not p.startswith(allowed)]
    assert not strays, f"{where}\nnew files: {strays}"
    return outcome
