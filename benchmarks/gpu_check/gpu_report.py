"""The GPU check's results: gpu.json (everything) and gpu.md (the tables a reader wants),
rewritten after every step so that a check cut short still leaves what it measured."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

JSON_FILE = "gpu.json"
MARKDOWN_FILE = "gpu.md"


def write_results(out: Path, document: dict[str, Any]) -> None:
    """Atomically (temporary file, then rename) write both files into `out`."""
    for name, text in (
        (JSON_FILE, json.dumps(document, indent=1, default=str)),
        (MARKDOWN_FILE, render_markdown(document)),
    ):
        temporary = out / f".{name}.tmp"
        temporary.write_text(text + "\n")
        os.replace(temporary, out / name)


def _f(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return f"{value}{suffix}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def render_markdown(document: dict[str, Any]) -> str:
    host, plan, steps = document["host"], document["plan"], document["steps"]
    lines = [
        f"# GPU check ({plan['name']})",
        "",
        f"`python benchmarks/gpu_check{' --dry-run' if plan['name'] == 'dry-run' else ''}`, "
        f"started {document['started']}, git {host.get('git')}; {host.get('device')}; "
        f"torch {host.get('torch')} (CUDA {host.get('cuda')}), Python {host.get('python')}, "
        f"{host.get('cpus')} CPUs. Budget {plan['budget_s']:.0f} s, used "
        f"{document.get('elapsed_s', 0):.0f} s.",
        "",
        "| step | status | seconds | limit | note |",
        "|---|---|---:|---:|---|",
    ]
    for name, step in steps.items():
        lines.append(
            f"| {name} | {step['status']} | {step['seconds']:.1f} | {step['timeout_s']:.0f} | "
            f"{(step.get('error') or '').replace('|', '/')} |"
        )
    tests = steps.get("tests", {}).get("result", {})
    if tests:
        lines += ["", f"**(1) Tests marked `gpu`** ({tests.get('preset')}): {tests.get('summary')}"]
    decode = steps.get("decode", {}).get("result", {})
    if decode:
        lines += [
            "",
            f"**(2) Decoding** on {decode['device']} ({decode['precision']}); control step = "
            "30 observation tokens in, 6 action tokens out, the model's context full and sliding "
            "(1024 tokens for the paper's presets).",
            "",
            "| preset | ms/token (batch 1) | control Hz (batch 1) | peak GiB | largest batch | "
            "env-steps/s there | peak GiB there |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in decode["presets"]:
            big = row.get("largest") or {}
            lines.append(
                f"| {row['preset']} | {_f(row['token_latency_ms'], 2)} | "
                f"{_f(row['control_hz_batch1'])} | {_f(row['peak_gib_batch1'], 2)} | "
                f"{_f(big.get('batch'))} | {_f(big.get('env_steps_per_s'), 0)} | "
                f"{_f(big.get('peak_gib'), 2)} |"
            )
        verdict = {True: "met", False: "missed", None: "not reached"}[decode["target_met"]]
        lines.append(f"\nTarget (largest preset, batch 1, >= 200 Hz): **{verdict}**.")
    suite = steps.get("suite", {}).get("result", {})
    if suite:
        lines += [
            "",
            f"**(3) Rollout**, random {suite['preset']}, {suite['envs']} envs (one episode "
            f"each, capped at {suite.get('max_steps')} steps); model = the policy's `act` "
            "(tokenizing, model, decoding), envs = creation, reset and step:",
            "",
            "| task | env steps | env-steps/s | model share | env share |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in [*suite["tasks"], {"task": "all", **suite["total"]}]:
            lines.append(
                f"| {row['task']} | {row['env_steps']} | {_f(row['env_steps_per_s'], 0)} | "
                f"{_pct(row['model_share'])} | {_pct(row['env_share'])} |"
            )
        if suite.get("not_played"):
            lines.append(f"\nNot played (out of time): {', '.join(suite['not_played'])}.")
    train = steps.get("train", {}).get("result", {})
    if train:
        lines += [
            "",
            f"**(4) Training** {train['settings']['preset']} on the recipe's data "
            f"(context {train['settings']['context_length']}, batch "
            f"{train['settings']['batch_size']}): {train['steps']} steps in "
            f"{_f(train['wall_s'], 0)} s (stopped by {train['stopped_by']}), "
            f"{_f(train['tokens_seen'])} tokens, {_f(train['tokens_per_s'], 0)} tokens/s, "
            f"last loss {_f(train['final_loss'], 3)}; brought back as "
            f"{', '.join(train.get('shards', {}).get('files', []))} + model-bf16.json.",
        ]
    evaluate = steps.get("evaluate", {}).get("result", {})
    if evaluate:
        lines += ["", "| task | episodes | mean return | % of expert |", "|---|---:|---:|---:|"]
        for row in evaluate["tasks"]:
            lines.append(
                f"| {row['task']} | {row['episodes']} | {_f(row['mean_return'], 2)} | "
                f"{_pct(row['normalized'])} |"
            )
        cut = " (run suite cut short at the step's limit)" if evaluate.get("cut_short") else ""
        lines.append(
            f"\nMean {_pct(evaluate['mean_normalized'])} of expert; "
            f"{evaluate['at_least_half']} tasks at >= 50%{cut}."
        )
    return "\n".join(lines)
