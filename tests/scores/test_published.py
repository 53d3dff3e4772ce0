"""The published expert table: what it covers, and malformed files as one-line errors."""

from __future__ import annotations

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.experts import has_expert
from gato_eval.scores import sources
from gato_eval.scores.project_table import record_project_reference
from gato_eval.scores.published import (
    PUBLISHED_COLUMNS,
    published_experts,
    read_published_file,
)
from gato_eval.scores.sources import get_reference
from gato_eval.suites.registry import get_task

HEADER = ",".join(PUBLISHED_COLUMNS)
ROW = 'dmc-walker-walk,981.13,"TD-MPC2 (state)","Hansen et al. 2024",results/walker-walk.csv,mean'


def test_shipped_rows_are_cited_dmc_experts_for_tasks_without_a_demonstrator():
    table = published_experts()
    assert len(table) == 15
    for task_id, row in table.items():
        assert get_task(task_id).family == "dmc"
        assert not has_expert(task_id), f"{task_id} has a demonstrator: measure it instead"
        assert 0 < row.expert <= 1000  # dm_control returns lie in [0, 1000]
        tdmpc2_name = {"dmc-ball-in-cup-catch": "cup-catch"}.get(task_id, task_id[4:])
        assert "arXiv:2310.16828" in row.paper and f"/{tdmpc2_name}.csv" in row.table
        assert "seed 1:" in row.detail and row.note.startswith("published expert: TD-MPC2")
    assert table["dmc-walker-walk"].expert == pytest.approx((982.9 + 977.4 + 983.1) / 3, abs=0.005)


def test_comment_lines_are_skipped_and_rows_read(tmp_path):
    path = tmp_path / "published.csv"
    path.write_text(f"# a comment\n{HEADER}\n# another\n{ROW}\n", encoding="utf-8")
    row = read_published_file(path)["dmc-walker-walk"]
    assert (row.expert, row.agent, row.table) == (
        981.13,
        "TD-MPC2 (state)",
        "results/walker-walk.csv",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task,expert\ndmc-walker-walk,1\n", "expected the columns"),
        (f"{HEADER}\n{ROW.replace('981.13', 'high')}\n", "line 2: expert is not a number"),
        (f"{HEADER}\n{ROW.replace('981.13', 'nan')}\n", "line 2: expert is not a number"),
        (f"{HEADER}\n{ROW}\n{ROW}\n", "line 3: a second row for dmc-walker-walk"),
        (f"{HEADER}\n{ROW.replace('dmc-walker-walk', 'dmc-walker-fly')}\n", "unknown task"),
        (f"{HEADER}\n{ROW.replace('Hansen et al. 2024', ' ')}\n", "must say where"),
        (f"{HEADER}\ndmc-walker-walk,1,a\n", "expected 6 fields"),
    ],
)
def test_a_malformed_file_is_a_one_line_error(tmp_path, text, message):
    path = tmp_path / "published.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GatoEvalError, match=message) as err:
        read_published_file(path)
    assert "\n" not in str(err.value)


def test_the_published_source_pairs_the_papers_expert_with_the_projects_random(
    tmp_path, monkeypatch
):
    table = tmp_path / "project.csv"
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sources, "PROJECT_FILE", table)
    missing = get_reference("dmc-walker-walk", "published")
    assert missing.expert == pytest.approx(981.13) and missing.random is None
    assert not missing.normalizable  # no random measured yet: never scored
    record_project_reference(
        "dmc-walker-walk", random=40.5, random_episodes=20, provenance="project: test", path=table
    )
    found = get_reference("dmc-walker-walk", "published")
    assert (found.random, found.expert, found.source) == (40.5, 981.13, "published")
    assert found.normalizable and found.protocol == "full"
    assert (
        found.note.startswith("expert: published expert: TD-MPC2") and "project: test" in found.note
    )
    # The project row holds only a random, so the project source itself cannot normalize it.
    assert not get_reference("dmc-walker-walk", "project").normalizable


def test_published_experts_are_full_length_and_only_for_their_tasks():
    capped = get_reference("dmc-walker-walk", "published", "max_steps=500")
    assert capped.expert is None and "full-length" in capped.note
    other = get_reference("dmc-swimmer-swimmer6", "published")
    assert other.expert is None and "no published expert" in other.note
