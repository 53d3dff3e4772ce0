"""`gato-eval report`: a run's scores as a shareable markdown file and a self-contained HTML page.

A report is built once as a list of blocks (headings, paragraphs, lists, tables, figures) and
rendered twice: markdown next to PNG files, and one HTML file with the figures embedded as base64
PNG and no external resource, so it can be mailed or attached as it is. A summary.json holds the
same numbers for machines. Everything is recomputed from the run's raw episodes.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval import __version__
from gato_eval.core.errors import GatoEvalError
from gato_eval.core.paths import portable_path
from gato_eval.scores.normalization import missing_reference_warnings
from gato_eval.scores.reference import DEFAULT_REFERENCE, ReferenceLike
from gato_eval.scores.scoring import (
    ensure_run,
    format_number,
    format_percent,
    run_label,
    run_warnings,
    summarize_run,
)
from gato_eval.scores.stats import (
    METRIC_TITLES,
    METRICS,
    aggregate_scores,
    task_intervals,
    threshold_curves,
)
from gato_eval.scores.tables import build_score_group

REPORT_THRESHOLDS = (0.25, 0.5, 0.75, 1.0, 1.5)


@dataclass
class ReportFiles:
    """What `write_report` wrote."""

    markdown: Path
    html: Path
    summary_json: Path
    figures: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FigureBlock:
    name: str  # file name of the PNG next to the markdown
    png: bytes
    caption: str


def write_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    reference: str = DEFAULT_REFERENCE,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    references: Mapping[str, ReferenceLike] | None = None,
    human_references: Mapping[str, ReferenceLike] | None = None,
) -> ReportFiles:
    """Write report.md, report.html, summary.json and the figures to `out_dir`
    (default RUN_DIR/report). `references` / `human_references` replace the shipped tables."""
    from gato_eval.scores.plotting import figure_bytes, plot_group_task_scores, plot_thresholds

    run = ensure_run(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run.path) / "report"
    label = run_label(run)
    rows = summarize_run(run, reference, references=references, human_references=human_references)
    group = build_score_group(label, [run], reference, references=references)
    warnings = run_warnings(run) + missing_reference_warnings(group.references, reference)
    table = group.table
    used = group.protocol_note()
    aggregates, curves, figures = [], None, []
    if table is not None:
        aggregates = aggregate_scores(table, reps=reps, confidence=confidence, seed=seed)
        curves = threshold_curves(table, reps=reps, confidence=confidence, seed=seed)
        low, high = task_intervals(table, reps=reps, confidence=confidence, seed=seed)
        figures.append(
            FigureBlock(
                "thresholds.png",
                figure_bytes(plot_thresholds([curves], notes=[f"{label}: {used}"])),
                "Tasks whose mean normalized score is at least x% of expert (paper Figure 5); "
                f"{used}.",
            )
        )
        tasks_figure = plot_group_task_scores(
            group, low, high, title=f"{label}: normalized score per task"
        )
        caption = (
            f"Normalized score per task; error bars: {100 * confidence:g}% bootstrap interval; "
            f"{used}."
        )
        figures.append(FigureBlock("tasks.png", figure_bytes(tasks_figure), caption))
    else:
        warnings.append(f"no task of {run.path} could be scored with the {reference!r} reference")
    settings = {"reference": reference, "reps": reps, "confidence": confidence, "seed": seed}
    blocks = _build_blocks(run, label, rows, group, aggregates, curves, figures, warnings, settings)
    try:
        out.mkdir(parents=True, exist_ok=True)
        figure_paths = []
        for figure in figures:
            (out / figure.name).write_bytes(figure.png)
            figure_paths.append(out / figure.name)
        markdown_path = out / "report.md"
        markdown_path.write_text(render_markdown(blocks))
        html_path = out / "report.html"
        html_path.write_text(render_html(blocks, title=f"gato-eval report: {label}"))
        json_path = out / "summary.json"
        summary = _summary_json(run, label, rows, group, aggregates, warnings, settings)
        json_path.write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as err:
        raise GatoEvalError(f"cannot write the report to {out}: {err.strerror or err}") from None
    return ReportFiles(markdown_path, html_path, json_path, figure_paths, warnings)


def _build_blocks(run, label, rows, group, aggregates, curves, figures, warnings, settings):
    confidence = 100 * settings["confidence"]
    blocks: list[tuple] = [("h", 1, f"gato-eval report: {label}")]
    blocks.append(("ul", _provenance(run)))
    if warnings:
        blocks += [("h", 2, "Warnings"), ("ul", warnings)]
    blocks.append(("h", 2, "Aggregate normalized scores"))
    if group.table is None:
        blocks.append(("p", "No task could be scored, so there are no aggregates."))
    else:
        blocks.append(("p", _unit_sentence(group.table, settings)))
        header = ["domain", "tasks", *(METRIC_TITLES[m] for m in METRICS)]
        by_domain: dict[str, list] = {}
        for row in aggregates:
            by_domain.setdefault(row.domain, []).append(row)
        cells = [
            [domain, str(found[0].num_tasks), *(_interval_cell(r.estimate) for r in found)]
            for domain, found in by_domain.items()
        ]
        blocks.append(("table", header, cells))
        blocks.append(("h", 2, "Tasks at or above x% of expert"))
        blocks.append(("table", *_threshold_table(curves)))
        blocks.append(("figure", figures[0]))
    blocks.append(("h", 2, "Per-task scores"))
    header = ["task", "family", "episodes", "failed", "mean return", "std", "success"]
    header += ["normalized", "human-normalized", "protocol", "source", "note"]
    cells = [
        [
            f"`{r.task}`",
            r.family,
            f"{r.episodes}/{r.planned}",
            str(r.failed),
            format_number(r.mean_return),
            format_number(r.std_return),
            format_percent(r.success_rate),
            format_percent(r.normalized),
            format_percent(r.human_normalized),
            r.protocol,
            r.reference if r.normalized is not None else "-",
            r.note,
        ]
        for r in rows
    ]
    blocks.append(("table", header, cells))
    if group.table is not None:
        blocks.append(("figure", figures[1]))
    blocks += [("h", 2, "Reference scores"), ("table", *_reference_table(rows))]
    if group.unscored:
        blocks += [("h", 2, "Tasks not scored"), ("p", "Left out of every aggregate and figure:")]
        blocks.append(("ul", [f"`{task}`: {reason}" for task, reason in group.unscored.items()]))
    blocks += [("h", 2, "How these numbers were computed"), ("ul", _method_notes(settings))]
    blocks.append(("p", f"Intervals are {confidence:g}% percentile intervals."))
    return blocks


def _provenance(run) -> list[str]:
    meta = run.typed_metadata
    suite, code = meta.suite, meta.code
    items = [
        f"Run directory: `{portable_path(run.path)}`",
        f"Policy: `{json.dumps(meta.policy, sort_keys=True)}`",
        f"Suite: `{suite.name}` version {suite.version}, "
        f"{len(suite.tasks)} tasks x {meta.episodes_per_task} episodes, seed {meta.seed}",
    ]
    if meta.created:
        items.append(f"Run created: `{meta.created}`")
    if code.git_revision:
        dirty = " (with local changes)" if code.git_dirty else ""
        items.append(f"Code revision: `{code.git_revision}`{dirty}")
    if code.packages:
        packages = ", ".join(f"{k} {v}" for k, v in sorted(code.packages.items()) if v)
        items.append(f"Packages: {packages}")
    versions: dict[str, str] = {}
    for spec in meta.tasks.values():  # env_versions, when recorded, is an object (checked)
        versions.update({k: str(v) for k, v in (spec.get("env_versions") or {}).items()})
    if versions:
        items.append(
            "Environment versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        )
    if meta.argv:
        items.append(f"Command: `{' '.join(meta.argv)}`")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    items.append(f"Report written {now} by gato-eval {__version__}")
    return items


def _unit_sentence(table, settings) -> str:
    if table.unit == "episode":
        return (
            f"Unit: **episode**. This report covers one run, so the intervals come from a "
            f"stratified bootstrap over the episodes of each task ({settings['reps']} resamples, "
            f"seed {settings['seed']}): they show the episode-to-episode noise of this run, not "
            "the variation between seeds. For seed-level intervals, run the suite with several "
            "--seed values and plot them together with `gato-eval plot thresholds`."
        )
    return (
        f"Unit: **seed**. {table.num_runs} runs; the bootstrap resamples seeds within each task "
        f"({settings['reps']} resamples, seed {settings['seed']})."
    )


def _method_notes(settings) -> list[str]:
    return [
        "Per task: the mean return over its episodes with status ok; failed episodes are "
        "excluded and counted.",
        f"normalized = (mean return - random) / (expert - random), with the reference scores "
        f"of the first source in `{settings['reference']}` that has the task under its "
        "protocol (the table's source column); 100% = expert, 0% = random. Atari is also "
        "human-normalized, (mean return - random) / (human - random), under the full-length "
        "protocol only: human scores are 30-minute games.",
        "A reference applies only to episodes played under the same protocol (protocol "
        "column: `full`, or the step cap the suite imposed, e.g. `max_steps=1000`).",
        "A task with no reference for its protocol, or whose expert score is not above its "
        "random score, is not normalizable: it is listed, never scored.",
        "Aggregates follow rliable (Agarwal et al., 2021): mean and median of task scores, IQM "
        "(mean of the middle 50%), optimality gap (mean shortfall below 100%).",
        "Threshold counts (paper Figure 5): the number of tasks whose mean normalized score is "
        ">= x (ties count, unlike rliable's strict >).",
    ]


def _reference_table(rows) -> tuple[list[str], list[list[str]]]:
    header = ["task", "protocol", "source", "random", "expert", "where from"]
    cells = [
        [
            f"`{r.task}`",
            r.protocol,
            r.reference,
            format_number(r.random),
            format_number(r.expert),
            r.reference_note,
        ]
        for r in rows
    ]
    return header, cells


def _interval_cell(estimate) -> str:
    return f"{100 * estimate.point:.1f}% [{100 * estimate.low:.1f}, {100 * estimate.high:.1f}]"


def _threshold_table(curves) -> tuple[list[str], list[list[str]]]:
    header = ["domain", "tasks", *(f">= {100 * x:g}%" for x in REPORT_THRESHOLDS)]
    cells = []
    for domain, curve in curves.domains.items():
        row = [domain, str(curve.num_tasks)]
        for x in REPORT_THRESHOLDS:
            k = int(np.argmin(np.abs(curves.thresholds - x)))
            row.append(f"{int(curve.counts[k])} [{curve.low[k]:g}, {curve.high[k]:g}]")
        cells.append(row)
    return header, cells


def _summary_json(run, label, rows, group, aggregates, warnings, settings) -> dict[str, Any]:
    table = group.table
    return {
        "run": portable_path(run.path),
        "label": label,
        "settings": settings,
        "unit": table.unit if table is not None else None,
        "tasks": [row.to_dict() for row in rows],
        "aggregates": [
            {
                "domain": a.domain,
                "metric": a.metric,
                "point": a.estimate.point,
                "low": a.estimate.low,
                "high": a.estimate.high,
                "num_tasks": a.num_tasks,
                "num_runs": a.num_runs,
                "unit": a.unit,
            }
            for a in aggregates
        ],
        "unscored": group.unscored,
        "warnings": warnings,
    }


def render_markdown(blocks: Sequence[tuple]) -> str:
    """Markdown for the blocks; figures are linked as the PNG files written next to it."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines.append("| " + " | ".join(_markdown_cell(c) for c in header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "figure":
            figure = block[1]
            lines += [f"![{figure.caption}]({figure.name})", "", f"*{figure.caption}*", ""]
    return "\n".join(lines)


def render_html(blocks: Sequence[tuple], *, title: str) -> str:
    """One self-contained HTML page: inline CSS, figures as base64 PNG, no external resource."""
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{_inline_html(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{_inline_html(block[1])}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline_html(c)}</th>" for c in block[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                for row in block[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "figure":
            figure = block[1]
            data = base64.b64encode(figure.png).decode("ascii")
            alt = html.escape(figure.caption, quote=True)
            body.append(
                f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline_html(figure.caption)}</figcaption></figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
    "th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}th{background:#f3f3f3}"
    "code{background:#f3f3f3;padding:0 0.2em}img{max-width:100%}"
    "figcaption{color:#555;font-size:0.9em}"
)


def _markdown_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _inline_html(text: str) -> str:
    """Escape, then turn markdown's `code` and **bold** into tags."""
    escaped = html.escape(str(text))
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
