"""The pretrained variants of the ablation: trained here with the training code, or supplied.

Keys name one pretrained model each: `all`, `no-control` and `same-domain:<family>` (the
`same-domain` variant is one model per held-out family); a grid with `pretraining_seeds` has one
model per key and seed, named `KEY@seedS` in ablation.json. A model trained here lives in
`<results>/pretrained/<key with ':' as '-'>[-seedS]/` and is trained by
`gato_eval.training.train.train` on the episodes of the grid's `pretraining_data` (handed in
explicitly, so the model does not depend on which other data sets happen to be on the machine)
under the mixture of its key:

| key                    | mixture (resolved over the handed-in tasks only)         |
|------------------------|----------------------------------------------------------|
| `all`                  | every pretraining task + text + captions                 |
| `same-domain:<family>` | the pretraining tasks of that family                     |
| `no-control`           | text + captions                                          |

Held-out exclusion is checked twice: on the resolved mixture before training, and on the
finished checkpoint's recorded mixture (which is also how a supplied model, `--pretrained
KEY=PATH`, is checked). A model whose training data cannot be read from its config is refused.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError, close_matches
from gato_eval.core.task_spec import FAMILIES
from gato_eval.corpus.mixtures import DataCatalog, resolve_mixture
from gato_eval.policies.loading import bundled_model_dir
from gato_eval.suites.registry import all_tasks, get_suite, get_task
from gato_eval.training.checkpoints import CHECKPOINTS_DIR, list_checkpoints
from gato_eval.training.settings import RUNTIME_SETTINGS, TrainSettings

PRETRAINED_DIR = "pretrained"
SIMPLE_KEYS = ("all", "no-control")


def pretrained_dir(results: Path, key: str, seed: int | None = None) -> Path:
    """Where the model of `key` (and pretraining `seed`, None: the grid's only one) lives."""
    suffix = "" if seed is None else f"-seed{seed}"
    return Path(results) / PRETRAINED_DIR / f"{key.replace(':', '-')}{suffix}"


def model_name(key: str, seed: int | None = None) -> str:
    """The name of a pretrained model in ablation.json: its key, plus `@seedS` in a grid with
    pretraining seeds."""
    return key if seed is None else f"{key}@seed{seed}"


def check_key(key: str) -> str:
    """`key` itself when it names a pretrained model, else a one-line error."""
    if key in SIMPLE_KEYS:
        return key
    if key.startswith("same-domain:") and key.split(":", 1)[1] in FAMILIES:
        return key
    if key == "scratch":
        raise GatoEvalError("the scratch variant has no pretrained model to pass")
    if key == "same-domain":
        raise GatoEvalError(
            f"name the family of a same-domain model: same-domain:FAMILY ({', '.join(FAMILIES)})"
        )
    known = [*SIMPLE_KEYS, *(f"same-domain:{family}" for family in FAMILIES)]
    raise GatoEvalError(f"unknown pretrained variant {key!r}{close_matches(key, known)}")


def parse_pretrained_options(values: list[str] | None) -> dict[str, str]:
    """`["all=PATH", ...]` -> {key: path}; 'bundled' stands for the bundled model."""
    given: dict[str, str] = {}
    for value in values or []:
        key, sep, path = value.partition("=")
        if not sep or not key.strip() or not path.strip():
            raise GatoEvalError(f"--pretrained takes VARIANT=PATH, got {value!r}")
        key = check_key(key.strip())
        if key in given:
            raise GatoEvalError(f"--pretrained names {key} twice")
        given[key] = path.strip()
    return given


def resolve_model_path(path: str) -> Path:
    """A supplied model's path as given (or `bundled`) -> its directory on this machine."""
    if path == "bundled":
        return bundled_model_dir()
    return Path(path).expanduser().resolve()


def pretraining_sources(config_path: Path) -> list[str]:
    """The sources (task ids, `text`, `captions`) a checkpoint records having trained on."""
    try:
        document = json.loads(Path(config_path).read_text())
        components = document["provenance"]["data"]["mixture"]["components"]
        return [str(component["source"]) for component in components]
    except (OSError, ValueError, KeyError, TypeError):
        raise GatoEvalError(
            f"{config_path} does not record the model's training data (provenance.data.mixture): "
            "held-out tasks cannot be ruled out of its pretraining, so it is refused"
        ) from None


def check_heldout_excluded(sources: list[str], heldout: tuple[str, ...], where: str) -> None:
    """One-line error when a held-out task is among a model's pretraining sources."""
    leaked = [task for task in heldout if task in sources]
    if leaked:
        raise GatoEvalError(
            f"held-out leakage: {where} was pretrained on {', '.join(leaked)}, a held-out task "
            "of this grid; pretrain without it"
        )


def describe_supplied(key: str, path_text: str, heldout: tuple[str, ...]) -> dict[str, Any]:
    """Check a supplied pretrained model (loadable config, no held-out data) and describe it."""
    from gato_eval.model.checkpoint import CONFIG_FILE  # torch: loaded on call

    path = resolve_model_path(path_text)
    if not (path / CONFIG_FILE).is_file():
        raise GatoEvalError(f"--pretrained {key}={path_text}: {path} is not a checkpoint directory")
    description = _describe_checkpoint(key, path, heldout, f"--pretrained {key}={path_text}", False)
    # Recorded as the user gave it (a results directory holds no absolute path of this machine
    # unless the user typed one); `adopt_supplied` resolves it again when the grid continues.
    description["path"] = path_text
    return description


def plan_for_key(key: str, grid) -> tuple[str, list]:
    """(mixture string, DatasetPlans) a model trained here for `key` uses."""
    if key == "no-control":
        return "no-control", []
    if key == "all":
        plans = list(grid.pretraining_data)
    else:
        family = key.split(":", 1)[1]
        plans = [p for p in grid.pretraining_data if get_task(p.task).family == family]
    if not plans:
        family = "any family" if key == "all" else key.split(":", 1)[1]
        raise GatoEvalError(
            f"the grid has no pretraining_data of {family} to pretrain '{key}' on: add some, "
            f"or pass --pretrained {key}=PATH"
        )
    return key, plans


def train_settings(
    key: str, grid, out: Path, device: str, threads: int | None, seed: int | None = None
):
    """The TrainSettings of variant `key` with pretraining `seed` (None: the grid's
    `pretraining.seed`); resume is set when a checkpoint is waiting."""
    mixture, _ = plan_for_key(key, grid)
    p = grid.pretraining
    every = max(p.steps // 10, 1)  # an interruption loses at most a tenth of the run
    return TrainSettings(
        out=out,
        preset=p.preset,
        mixture=mixture,
        steps=p.steps,
        batch_size=p.batch_size,
        lr=p.lr,
        warmup=p.warmup,
        seed=p.seed if seed is None else seed,
        device=device,
        context_length=p.context_length,
        position_bias=p.position_bias,
        text_characters=p.text_characters,
        caption_examples=p.caption_examples,
        eval_every=every,
        checkpoint_every=every,
        threads=threads,
        resume=bool(list_checkpoints(out)),
    )


def check_mixture_excludes(mixture: str, episodes_by_task: dict, heldout: tuple[str, ...]):
    """Resolve `mixture` over exactly the handed-in tasks and refuse any held-out one in it."""
    catalog = DataCatalog(
        families={spec.task_id: spec.family for spec in all_tasks()},
        with_data=frozenset(episodes_by_task),
        heldout=frozenset(get_suite("heldout").tasks) | frozenset(heldout),
    )
    resolved = resolve_mixture(mixture, catalog)
    check_heldout_excluded(
        [c.source for c in resolved.components], heldout, f"the '{mixture}' mixture"
    )
    return resolved


def finished_model(
    key: str, grid, out: Path, device: str, threads: int | None, seed: int | None = None
) -> bool:
    """Whether `out` holds this variant's final model, trained with the grid's settings."""
    from gato_eval.model.checkpoint import CONFIG_FILE  # torch: loaded on call

    config = out / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        recorded = json.loads(config.read_text())["provenance"]["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        raise GatoEvalError(f"{config} is unreadable: delete {out} to pretrain again") from None
    expected = train_settings(key, grid, out, device, threads, seed).to_dict()
    names = [f.name for f in fields(TrainSettings) if f.name not in RUNTIME_SETTINGS]
    changed = [name for name in names if recorded.get(name) != expected[name]]
    if changed:
        raise GatoEvalError(
            f"{out} was pretrained with other settings ({', '.join(changed)}): use another "
            "results directory, or delete it to pretrain again"
        )
    return True


def remove_training_checkpoints(out: Path) -> None:
    """A finished model needs no optimizer state: drop the resumable checkpoints."""
    shutil.rmtree(Path(out) / CHECKPOINTS_DIR, ignore_errors=True)


def describe_trained(key: str, out: Path, datasets: list[dict], heldout: tuple[str, ...]):
    """Check a model trained here (held-out exclusion from its config) and describe it."""
    from gato_eval.model.checkpoint import CONFIG_FILE  # torch: loaded on call

    description = _describe_checkpoint(key, out, heldout, str(out), True)
    provenance = json.loads((out / CONFIG_FILE).read_text())["provenance"]
    return {
        **description,
        "datasets": datasets,
        "steps": provenance.get("step"),
        "tokens_seen": provenance.get("tokens_seen"),
        "final_loss": provenance.get("final_loss"),
        "final_eval_loss": provenance.get("final_eval_loss"),
        "wall_s": provenance.get("wall_s"),
    }


def _describe_checkpoint(
    key: str, path: Path, heldout: tuple[str, ...], where: str, trained_here: bool
) -> dict[str, Any]:
    """What every pretrained model's record holds, after checking its recorded training
    sources exclude the held-out tasks (`where` names it in the error)."""
    from gato_eval.model.checkpoint import CONFIG_FILE, checkpoint_hash  # torch: loaded on call

    sources = pretraining_sources(path / CONFIG_FILE)
    check_heldout_excluded(sources, heldout, where)
    return {
        "key": key,
        "path": str(path),
        "trained_here": trained_here,
        "checkpoint_sha256": checkpoint_hash(path),
        "context_length": _context_length(path / CONFIG_FILE),
        "sources": sources,
        "heldout_excluded": list(heldout),
    }


def _context_length(config_path: Path) -> int | None:
    try:
        return int(json.loads(Path(config_path).read_text())["model"]["context_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def adopt_supplied(
    recorded: dict[str, dict],
    supplied: dict[str, dict],
    needed: set[str],
    heldout: tuple[str, ...],
    results: Path,
) -> dict[str, Path]:
    """key -> checkpoint of every supplied model the grid needs: the ones `supplied` now
    (descriptions from `describe_supplied`, recorded into `recorded`) and the ones a results
    directory recorded before (checked unchanged). A key the directory pretrained itself, or a
    different model for a key it already used, is refused."""
    models = {}
    for key, description in supplied.items():
        before = recorded.get(key)
        if before is not None and before.get("trained_here"):
            raise GatoEvalError(
                f"--pretrained {key}: {results} already pretrained '{key}' itself; use another "
                "--out to try a supplied model"
            )
        if before is not None and before["checkpoint_sha256"] != description["checkpoint_sha256"]:
            raise GatoEvalError(
                f"--pretrained {key}={description['path']} is not the model {results} used for "
                f"'{key}' ({before['path']}): use another --out"
            )
        recorded[key] = description
        models[key] = resolve_model_path(description["path"])
    for key, before in recorded.items():
        if key in needed and key not in models and not before.get("trained_here"):
            description = describe_supplied(key, before["path"], heldout)
            if description["checkpoint_sha256"] != before["checkpoint_sha256"]:
                raise GatoEvalError(
                    f"the supplied '{key}' model {before['path']} changed since {results} used "
                    "it: restore it, or use another --out"
                )
            models[key] = resolve_model_path(description["path"])
    return models
