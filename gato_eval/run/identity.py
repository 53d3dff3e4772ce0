"""What makes a resumed run the same run (`gato-eval run suite --resume`).

`recorded_suite` rebuilds the suite a run directory recorded (suites from a file included);
`check_same_run` refuses to continue it when anything that decides its episodes differs: the
suite, the episodes per task, the seed, the policy's identity or a task's set-up.
"""

from __future__ import annotations

from typing import Any

from gato_eval.core.errors import GatoEvalError
from gato_eval.run.directory import RUN_FORMAT_VERSION, Run
from gato_eval.run.metadata import RunMetadata


def check_same_run(previous: Run, metadata: dict[str, Any], policy_identity) -> None:
    """Refuse to resume when anything that decides the episodes differs: `metadata` is what
    this invocation would record (`evaluate.build_metadata`), checked as a run's would be."""
    old = previous.typed_metadata
    new = RunMetadata.from_dict({"format_version": RUN_FORMAT_VERSION, **metadata})
    where = previous.path
    _check_goal_variant_rule(old, new, where)  # before the suite: its version moved too
    checks = [
        ("suite", old.suite.identity(), new.suite.identity()),
        ("episodes per task", old.episodes_per_task, new.episodes_per_task),
        ("seed", old.seed, new.seed),
        ("policy", policy_identity(old.policy or {}), policy_identity(new.policy or {})),
    ]
    for what, before, now in checks:
        if before != now:
            raise GatoEvalError(
                f"cannot resume {where}: its {what} was {_short(before)}, now {_short(now)}"
            )
    for task_id, spec in new.tasks.items():
        before = old.tasks.get(task_id)
        if before is not None and before != spec:
            raise GatoEvalError(
                f"cannot resume {where}: task {task_id} is set up differently now "
                "(its spec or environment version changed)"
            )


def _check_goal_variant_rule(old: RunMetadata, new: RunMetadata, where) -> None:
    """Refuse a run whose Meta-World episodes were recorded under another goal-variant rule:
    continuing it would pool episodes of two rules (suites/metaworld.py explains the change)."""
    for task_id, spec in new.tasks.items():
        rule = (spec.get("options") or {}).get("goal_variant_rule")
        before = (old.tasks.get(task_id) or {}).get("options")
        if rule is None or not isinstance(before, dict) or before.get("goal_variant_rule") == rule:
            continue
        recorded = before.get("goal_variant_rule") or before.get("goal_choice") or "unrecorded"
        raise GatoEvalError(
            f"cannot resume {where}: its Meta-World episodes chose goal variants by an older "
            f"rule ({_short(recorded)}) that repeats goals; start a new run, whose episodes "
            "visit every variant once per 50"
        )


def recorded_suite(registry, run: Run):
    """The suite a run recorded, rebuilt from its metadata (its tasks are checked later)."""
    suite = run.typed_metadata.suite
    try:
        return registry.Suite(
            name=suite.name,
            version=int(suite.version),
            task_ids=suite.tasks,
            episodes=run.typed_metadata.episodes_per_task,
            description=suite.description,
            max_episode_steps=dict(suite.max_episode_steps),
        )
    except (TypeError, ValueError) as err:
        raise GatoEvalError(f"{run.path}: the recorded suite is malformed ({err})") from None


def _suite_identity(suite: Any) -> Any:
    if not isinstance(suite, dict):
        return suite
    return {key: suite.get(key) for key in ("name", "version", "tasks", "max_episode_steps")}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def first_protocol_difference(first: dict[str, Any], second: dict[str, Any]) -> str | None:
    """What differs between the evaluation protocols of two runs' metadata, the seed aside, or
    None when they are seeds of one evaluation and may be pooled: the suite (name, version,
    tasks, step caps), each recorded task spec (caps, options, env versions), the episodes per
    task, and the policy's prompt, the data sets its prompts were drawn from and sampling. (The
    reference a score uses is chosen when scoring and is the same for every run scored
    together.)"""
    first_policy, second_policy = (
        run.get("policy") if isinstance(run.get("policy"), dict) else {} for run in (first, second)
    )
    checks = [
        ("suite", _suite_identity(first.get("suite")), _suite_identity(second.get("suite"))),
        ("episodes per task", first.get("episodes_per_task"), second.get("episodes_per_task")),
        ("prompt", first_policy.get("prompt"), second_policy.get("prompt")),
        (
            "prompt data sets",
            _prompt_sources_identity(first_policy.get("prompt_sources")),
            _prompt_sources_identity(second_policy.get("prompt_sources")),
        ),
        ("sampling", first_policy.get("sampling"), second_policy.get("sampling")),
    ]
    for what, before, now in checks:
        if before != now:
            return f"{what} {_short(before)} vs {_short(now)}"
    first_tasks, second_tasks = (run.get("tasks") or {} for run in (first, second))
    for task_id in sorted(set(first_tasks) | set(second_tasks)):
        before, now = first_tasks.get(task_id), second_tasks.get(task_id)
        if before == now:
            continue
        if not isinstance(before, dict) or not isinstance(now, dict):
            return f"task {task_id}'s recorded spec {_short(before)} vs {_short(now)}"
        key = next(k for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k))
        return f"task {task_id}'s {key} {_short(before.get(key))} vs {_short(now.get(key))}"
    return None


def _prompt_sources_identity(sources: Any) -> Any:
    """task -> the sha256 of the data set its prompts came from: two `auto` or `local` runs
    prompted from different data sets are different evaluations (the path and the candidate
    count follow from the data set, and the path differs between machines)."""
    if not isinstance(sources, dict):
        return sources
    return {
        task: source.get("sha256", source) if isinstance(source, dict) else source
        for task, source in sorted(sources.items())
    }
