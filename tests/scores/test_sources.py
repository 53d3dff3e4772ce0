"""Reference scores: sources, mappings, notes, normalizability and the project CSVs."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.scores import sources
from gato_eval.scores.project_table import (
    PROJECT_COLUMNS,
    record_project_reference,
    user_reference_file,
)
from gato_eval.scores.reference import Reference
from gato_eval.scores.sources import available_sources, get_reference
from gato_eval.suites.registry import all_tasks

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference"


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """No test reads or writes the user's ~/.gato-eval (user-local reference scores live there)."""
    home = tmp_path / "gato-home"
    monkeypatch.setenv("GATO_EVAL_HOME", str(home))
    return home


@pytest.mark.parametrize(
    ("random", "expert", "normalizable"),
    [
        (0.0, 10.0, True),
        (5.0, 5.0, False),  # expert == random
        (23.1, 20.4, False),  # expert < random (JAT's Bowling)
        (None, 10.0, False),
        (0.0, None, False),
        (0.0, math.inf, False),
        (math.nan, 1.0, False),
    ],
)
def test_normalizable_only_when_expert_beats_random(random, expert, normalizable):
    assert Reference("t", random, expert, "project").normalizable is normalizable


def test_human_references_are_the_atari57_table():
    pong = get_reference("atari-pong", "human")
    assert (pong.random, pong.expert) == (-20.7, 14.6)
    montezuma = get_reference("atari-montezuma-revenge", "human")
    assert (montezuma.random, montezuma.expert) == (0.0, 4753.3)
    assert sum(get_reference(s.task_id, "human").normalizable for s in all_tasks("atari")) == 57
    dmc = get_reference("dmc-cartpole-swingup", "human")
    assert dmc.random is None and not dmc.normalizable and "Atari only" in dmc.note


def test_jat_references_map_to_our_ids_with_honest_notes():
    boxing = get_reference("atari-boxing", "jat")  # JAT's expert, this project's random
    assert boxing.expert == pytest.approx(97.968, abs=1e-3) and boxing.random == 1.56
    assert "jat's own random 0.1" in boxing.note and "uniform random actions" in boxing.note
    assembly = get_reference("metaworld-assembly", "jat")  # v2 rows only where asked for
    assert not assembly.normalizable and "jat-v2-metaworld" in assembly.note
    assembly = get_reference("metaworld-assembly", "jat-v2-metaworld")
    assert assembly.normalizable and "v2" in assembly.note and "assembly-v3" in assembly.note
    battle_zone = get_reference("atari-battle-zone", "jat")
    assert "differs from DQN Zoo" in battle_zone.note  # JAT's 236 vs the standard 2360
    bowling = get_reference("atari-bowling", "jat")  # JAT's expert is below random
    assert not bowling.normalizable
    cartpole = get_reference("dmc-cartpole-swingup", "jat")
    assert cartpole.expert is None and "gym MuJoCo" in cartpole.note
    mapped = {
        (family, source): sum(
            get_reference(s.task_id, source).expert is not None for s in all_tasks(family)
        )
        for family in ("atari", "metaworld", "babyai", "dmc")
        for source in ("jat", "jat-v2-metaworld")
    }
    # JAT's 39th BabyAI row, babyai-put-next, names no level that minigrid 3.2 registers.
    assert mapped == {
        ("atari", "jat"): 57,
        ("metaworld", "jat"): 0,
        ("babyai", "jat"): 38,
        ("dmc", "jat"): 0,
        ("atari", "jat-v2-metaworld"): 0,
        ("metaworld", "jat-v2-metaworld"): 50,
        ("babyai", "jat-v2-metaworld"): 0,
        ("dmc", "jat-v2-metaworld"): 0,
    }


def test_unknown_task_or_source_is_an_error():
    with pytest.raises(GatoEvalError, match="did you mean: jat"):
        get_reference("atari-pong", "jta")
    with pytest.raises(GatoEvalError, match="unknown task"):
        get_reference("atari-pongg", "human")


@pytest.mark.skipif(not SHARED.is_dir(), reason="the project's shared/reference folder is absent")
@pytest.mark.parametrize("name", ["atari57_random_human.csv", "jat_reference_scores.csv"])
def test_packaged_tables_are_verbatim_copies_of_the_shared_ones(name):
    packaged = (sources.REFERENCE_DATA / name).read_text(encoding="utf-8").splitlines()
    assert packaged[0].startswith("# source: ")
    shared = (SHARED / name).read_text(encoding="utf-8").splitlines()
    assert packaged[1:] == [line.rstrip("\r") for line in shared]


def test_packaged_project_table_has_the_documented_columns():
    with open(sources.PROJECT_FILE, newline="") as handle:
        assert tuple(next(csv.reader(handle))) == PROJECT_COLUMNS


@pytest.fixture
def no_shipped_table(tmp_path, monkeypatch):
    """An empty packaged project table: the shipped one grows as the project measures tasks."""
    monkeypatch.setattr(sources, "PROJECT_FILE", tmp_path / "no-shipped-table.csv")


def test_project_reference_missing_until_recorded(private_home, no_shipped_table):
    before = get_reference("dmc-walker-walk")
    assert before.random is None and not before.normalizable and "not measured" in before.note
    path = record_project_reference(
        "dmc-walker-walk", random=27.5, random_episodes=50, provenance="uniform random, seeds 0-49"
    )
    assert path == user_reference_file() == private_home / "reference_scores.csv"
    partial = get_reference("dmc-walker-walk")
    assert partial.random == 27.5 and partial.expert is None and not partial.normalizable
    record_project_reference(
        "dmc-walker-walk",
        expert=850.0,
        expert_episodes=20,
        window=2,
        provenance="energy-based swing-up",
    )
    full = get_reference("dmc-walker-walk")
    assert (full.random, full.expert) == (27.5, 850.0) and full.normalizable
    assert "random: uniform random" in full.note and "expert: energy-based" in full.note
    assert "random 50 episodes, expert 20 episodes, W=2" in full.note
    # walker-walk also has a published expert, which takes the project's random.
    assert available_sources("dmc-walker-walk") == ["project", "published"]


def test_recording_keeps_other_rows_and_the_user_file_wins(tmp_path, monkeypatch):
    packaged = tmp_path / "project.csv"
    monkeypatch.setattr(sources, "PROJECT_FILE", packaged)
    record("atari-pong", -20.5, 21.0, 30, "random / RAM player", path=packaged)
    record("atari-boxing", 0.5, 35.0, 30, "random / RAM player", path=packaged)
    record("atari-pong", -20.0, 20.0, 10, "re-measured", path=packaged)
    with open(packaged, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["task"] for row in rows] == ["atari-pong", "atari-boxing"]
    assert rows[0]["random"] == "-20.0" and rows[1]["expert"] == "35.0"
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic rewrite left no temporary file
    assert get_reference("atari-pong").expert == 20.0  # packaged table
    record("atari-pong", -19.0, 18.0, 5, "my machine")  # user-local
    local = get_reference("atari-pong")
    assert local.expert == 18.0 and "my machine" in local.note
    assert get_reference("atari-boxing").expert == 35.0  # still from the packaged table


def record(task_id, random, expert, episodes, provenance, path=None, protocol="full"):
    """Both numbers of a task measured with the same episode count."""
    return record_project_reference(
        task_id,
        protocol=protocol,
        random=random,
        expert=expert,
        random_episodes=episodes,
        expert_episodes=episodes,
        provenance=provenance,
        path=path,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a random or an expert"),
        ({"random": float("nan"), "random_episodes": 1}, "finite number"),
        ({"random": 1.0, "random_episodes": 0}, "random_episodes must be a positive integer"),
        ({"random": 1.0}, "random_episodes must be a positive integer"),
        ({"expert": 1.0, "expert_episodes": 2, "window": 0}, "window must be a positive"),
        ({"random": 1.0, "random_episodes": 1, "expert_episodes": 3}, "without a expert"),
        ({"random": 1.0, "random_episodes": 1, "provenance": "  "}, "provenance"),
        ({"random": 1.0, "random_episodes": 1, "protocol": "max_steps"}, "malformed protocol"),
        ({"random": 1.0, "random_episodes": 1, "protocol": "max_steps=0"}, "max_steps must be"),
    ],
)
def test_recording_rejects_bad_numbers(kwargs, message):
    arguments = {"provenance": "test"} | kwargs
    with pytest.raises(GatoEvalError, match=message):
        record_project_reference("atari-pong", **arguments)


def test_a_corrupted_project_table_is_a_one_line_error(private_home):
    user_reference_file().parent.mkdir(parents=True)
    user_reference_file().write_text(
        "task,random,expert,episodes,provenance,measured_at\natari-pong,abc,1,1,x,y\n"
    )
    with pytest.raises(GatoEvalError, match="line 2: random is not a number"):
        get_reference("atari-pong")
    header = ",".join(PROJECT_COLUMNS)
    for row, message in [
        ("atari-pong,full,1,2,x,3,1,,p,t", "random_episodes is not a positive integer"),
        ("atari-pong,max steps,1,2,3,3,1,,p,t", "malformed protocol"),
        ("atari-pong,full,1,2,3,3,1,,p,t\natari-pong,full,1,2,3,3,1,,p,t", "line 3: a second row"),
        ("atari-pong,full,1,2,3,3,1,high,p,t", "random_upper_quartile is not a number"),
    ]:
        user_reference_file().write_text(f"{header}\n{row}\n")
        with pytest.raises(GatoEvalError, match=message):
            get_reference("atari-pong")
    user_reference_file().write_text("task,score\natari-pong,1\n")
    with pytest.raises(GatoEvalError, match="expected the columns"):
        get_reference("atari-pong")


def test_references_are_keyed_by_protocol(private_home, no_shipped_table):
    """A capped protocol's reference is its own row; full-length human/JAT numbers never apply."""
    capped = "max_steps=1000"
    record("atari-pong", -9.0, 3.0, 20, "capped games", protocol=capped)
    record("atari-pong", -20.0, 18.0, 20, "full games")
    assert get_reference("atari-pong", protocol=capped).expert == 3.0
    assert get_reference("atari-pong", protocol=capped).protocol == capped
    assert get_reference("atari-pong").expert == 18.0
    assert not get_reference("atari-breakout", protocol="max_steps=150").normalizable
    assert (
        "for protocol max_steps=150"
        in get_reference("atari-breakout", "project", "max_steps=150").note
    )
    human = get_reference("atari-pong", "human", capped)
    assert human.expert is None and "30-minute games" in human.note
    assert get_reference("atari-pong", "jat", capped).expert is None
    assert available_sources("atari-pong", capped) == ["project"]
    with open(user_reference_file(), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["task"], row["protocol"]) for row in rows] == [
        ("atari-pong", capped),
        ("atari-pong", "full"),
    ]


def test_a_legacy_table_reads_as_full_and_is_rewritten_in_the_new_format(
    private_home, no_shipped_table
):
    legacy = "task,random,expert,episodes,provenance,measured_at\n"
    legacy += (
        'atari-pong,-20.0,10.0,10,"expert: max windowed mean return (W=1) of ...",2026-11-25\n'
    )
    user_reference_file().parent.mkdir(parents=True)
    user_reference_file().write_text(legacy)
    pong = get_reference("atari-pong")
    assert (pong.random, pong.expert, pong.protocol) == (-20.0, 10.0, "full")
    assert "random 10 episodes, expert 10 episodes, W=1" in pong.note
    assert get_reference("atari-pong", protocol="max_steps=1000").expert is None
    record("atari-boxing", 0.5, 35.0, 30, "random / RAM player")
    with open(user_reference_file(), newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert tuple(reader.fieldnames) == PROJECT_COLUMNS
    assert rows[0] | {"provenance": ""} == {
        "task": "atari-pong",
        "protocol": "full",
        "random": "-20.0",
        "expert": "10.0",
        "random_episodes": "10",
        "expert_episodes": "10",
        "window": "1",
        "random_upper_quartile": "",
        "provenance": "",
        "measured_at": "2026-11-25",
    }
    assert rows[1]["task"] == "atari-boxing"


def test_concurrent_recorders_keep_every_row(private_home):
    """Recorders in parallel processes (one per task) all land in the shared table."""
    import os
    import subprocess
    import sys

    tasks = ["atari-pong", "atari-boxing", "atari-breakout", "atari-alien"]
    script = (
        "import sys\n"
        "from gato_eval.scores.project_table import record_project_reference as record\n"
        "for step in range(10):\n"
        "    record(sys.argv[1], random=0.0, expert=1.0 + step, random_episodes=3,\n"
        "           expert_episodes=3, provenance=f'step {step}')\n"
    )
    environment = os.environ | {"GATO_EVAL_HOME": str(private_home)}
    workers = [
        subprocess.Popen([sys.executable, "-c", script, task], env=environment) for task in tasks
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0] * len(tasks)
    with open(user_reference_file(), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["task"] for row in rows) == sorted(tasks)
    assert {row["expert"] for row in rows} == {"10.0"}


def test_a_protocol_no_table_can_hold_is_not_normalizable(tmp_path):
    """A run recorded under suite v1 (Meta-World's old goal rule) still reports: its Meta-World
    tasks are not normalizable, instead of the whole report failing on the protocol key."""
    protocol = 'goal_choice="reset seed % goal_variants";goal_variant_rule=null'
    found = get_reference("metaworld-reach", "project", protocol)
    assert not found.normalizable and "no reference can exist for protocol" in found.note
    shipped = Path(__file__).resolve().parents[2] / "results" / "rebalanced-run"
    result = subprocess.run(
        [sys.executable, "-m", "gato_eval", "report", str(shipped), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "r" / "report.md").read_text()
    assert "metaworld-reach" in report and "no reference can exist for protocol" in report


@pytest.mark.parametrize("source", ["jat", "human"])
def test_an_expert_below_random_play_measured_here_is_not_normalizable(
    private_home, no_shipped_table, source
):
    # JAT's Solaris expert (1,353.7) sits below uniform-random play in this harness's full-length
    # games (#19): normalizing by it put a random policy at 1,236% of expert.
    before = get_reference("atari-solaris", source)
    assert before.normalizable
    random_only("atari-solaris", 2600.0)
    after = get_reference("atari-solaris", source)
    if source == "jat":  # 1,353.7 <= 2,600: says nothing here
        assert not after.normalizable
        assert after.random == 2600.0 and after.expert == before.expert
        reason = after.reason_not_normalizable()
        assert "jat's expert 1353.68 is not above uniform-random play on this env" in reason
    else:  # the human score (12,326.7) is far above it: the table's row stands
        assert after == before
    # Random play measured below the expert: JAT's expert with this project's zero point (JAT's
    # own random in the note); the human-normalized score keeps the standard random.
    random_only("atari-solaris", 1000.0)
    after = get_reference("atari-solaris", source)
    assert after.normalizable and after.expert == before.expert
    if source == "jat":
        assert after.random == 1000.0 and f"jat's own random {before.random:g}" in after.note
    else:
        assert after == before


@pytest.mark.parametrize("source", ["jat", "human", "project"])
def test_an_expert_that_a_quarter_of_random_games_reach_is_refused(
    private_home, no_shipped_table, source
):
    # Atari Private Eye: JAT's expert (100, std 0) is what most random games here score, while a
    # rare -1,000 game drags the random mean far below it (#19).
    if source == "project":
        record_project_reference(
            "atari-private-eye", expert=100.0, expert_episodes=10, window=1, provenance="expert"
        )
    record_project_reference(
        "atari-private-eye", random=40.0, random_episodes=30, random_upper_quartile=100.0,
        provenance="uniform random play here",
    )  # fmt: skip
    found = get_reference("atari-private-eye", source)
    if source == "human":  # the human score (69,571) is far above what random play reaches
        assert found.normalizable
        # and the field's human-normalized score stands even where random games reach it.
        record_project_reference(
            "atari-video-pinball", random=16534.5, random_episodes=30,
            random_upper_quartile=19000.8, provenance="uniform random play here",
        )  # fmt: skip
        assert get_reference("atari-video-pinball", "human").normalizable
        assert not get_reference("atari-video-pinball", "jat").refused  # JAT's 441,508
        return
    assert found.random == 40.0 and found.expert == 100.0 and not found.normalizable
    assert "a quarter of uniform-random games on this environment reach" in found.refused
    assert found.refused in found.reason_not_normalizable()
    with pytest.raises(ValueError, match="not normalizable"):
        found.normalize(50.0)
    # Below the expert, the quartile leaves the reference usable.
    record_project_reference(
        "atari-private-eye", random=40.0, random_episodes=30, random_upper_quartile=99.0,
        provenance="uniform random play here",
    )  # fmt: skip
    assert get_reference("atari-private-eye", source).normalizable


def random_only(task_id, random):
    record_project_reference(
        task_id, random=random, random_episodes=30, provenance="uniform random play here"
    )


def test_a_table_without_quartiles_reads_and_is_rewritten_with_the_column(
    private_home, no_shipped_table
):
    columns = [name for name in PROJECT_COLUMNS if name != "random_upper_quartile"]
    user_reference_file().parent.mkdir(parents=True)
    user_reference_file().write_text(
        ",".join(columns) + '\natari-pong,full,-20.0,10.0,10,10,1,"random and expert",2026-11-25\n'
    )
    pong = get_reference("atari-pong")
    assert (pong.random, pong.expert) == (-20.0, 10.0) and pong.normalizable
    record_project_reference(
        "atari-alien", random=200.0, random_episodes=30, random_upper_quartile=250.0,
        provenance="uniform random play here",
    )  # fmt: skip
    with open(user_reference_file(), newline="") as handle:
        reader = csv.DictReader(handle)
        rows = {row["task"]: row for row in reader}
    assert tuple(reader.fieldnames) == PROJECT_COLUMNS
    assert rows["atari-pong"]["random_upper_quartile"] == ""
    assert rows["atari-alien"]["random_upper_quartile"] == "250.0"
    with pytest.raises(GatoEvalError, match="random_upper_quartile given without a random"):
        record_project_reference(
            "atari-alien", expert=1.0, expert_episodes=1, random_upper_quartile=2.0,
            provenance="x",
        )  # fmt: skip
