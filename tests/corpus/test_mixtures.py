"""Mixtures: selectors, held-out exclusion, weights, mixture files and their errors."""

from __future__ import annotations

import json
import math

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.corpus.mixtures import (
    CONTROL_SHARE,
    DataCatalog,
    build_mixture,
    load_mixture_file,
    resolve_mixture,
)

HELDOUT = frozenset({"dmc-cartpole-swingup", "metaworld-assembly", "atari-boxing"})


@pytest.fixture
def catalog():
    families = {
        "atari-boxing": "atari",
        "atari-pong": "atari",
        "atari-breakout": "atari",
        "dmc-cartpole-swingup": "dmc",
        "dmc-cartpole-balance": "dmc",
        "dmc-walker-walk": "dmc",
        "metaworld-assembly": "metaworld",
        "metaworld-reach": "metaworld",
        "babyai-go-to-local": "babyai",
        "babyai-pickup": "babyai",  # registered, no data set
    }
    with_data = frozenset(t for t in families if t != "babyai-pickup")
    return DataCatalog(families=families, with_data=with_data, heldout=HELDOUT)


def test_all_excludes_every_heldout_task_and_adds_no_control_data(catalog):
    mixture = resolve_mixture("all", catalog)
    assert not HELDOUT & set(mixture.task_ids)
    assert set(mixture.task_ids) == {
        "atari-pong",
        "atari-breakout",
        "dmc-cartpole-balance",
        "dmc-walker-walk",
        "metaworld-reach",
        "babyai-go-to-local",
    }
    assert mixture.no_control_sources == ["text", "captions"]
    assert math.isclose(sum(c.weight for c in mixture.components), 1.0)
    families = mixture.family_weights()
    for family in ("atari", "dmc", "metaworld", "babyai"):
        assert math.isclose(families[family], CONTROL_SHARE / 4 / (CONTROL_SHARE + 0.147))
    assert math.isclose(families["text"], 0.067 / 1.0)
    # A family's weight is shared equally by its tasks.
    assert math.isclose(mixture.weight_of("atari-pong"), mixture.weight_of("atari-breakout"))


def test_control_and_same_domain_exclude_heldout(catalog):
    control = resolve_mixture("control", catalog)
    assert control.no_control_sources == [] and not HELDOUT & set(control.task_ids)
    dmc = resolve_mixture("same-domain:dmc", catalog)
    assert dmc.task_ids == ["dmc-cartpole-balance", "dmc-walker-walk"]
    assert math.isclose(dmc.weight_of("dmc-walker-walk"), 0.5)
    atari = resolve_mixture("same-domain:atari", catalog)
    assert "atari-boxing" not in atari.task_ids


def test_naming_a_heldout_task_explicitly_includes_it(catalog):
    mixture = resolve_mixture("dmc-cartpole-swingup, babyai-go-to-local", catalog)
    assert mixture.task_ids == ["dmc-cartpole-swingup", "babyai-go-to-local"]
    assert math.isclose(mixture.weight_of("dmc-cartpole-swingup"), 0.5)


def test_minus_drops_a_source(catalog):
    mixture = resolve_mixture("all,-atari-pong,-text", catalog)
    assert "atari-pong" not in mixture.task_ids and mixture.no_control_sources == ["captions"]
    assert mixture.definition["exclude"] == ["atari-pong", "text"]


def test_no_control_is_text_and_captions_only(catalog):
    mixture = resolve_mixture("no-control", catalog)
    assert mixture.task_ids == []
    assert math.isclose(mixture.weight_of("text"), 0.067 / 0.147)
    assert math.isclose(mixture.weight_of("captions"), 0.080 / 0.147)


def test_mixture_file_weights(tmp_path, catalog):
    path = tmp_path / "dmc-heavy.json"
    path.write_text(
        json.dumps(
            {
                "format": "gato-eval-mixture",
                "version": 1,
                "include": ["control", "text"],
                "exclude": ["atari-breakout"],
                "family_weights": {
                    "dmc": 3.0,
                    "atari": 1.0,
                    "metaworld": 0.0,
                    "babyai": 1.0,
                    "text": 1.0,
                },
                "task_weights": {"dmc-walker-walk": 2.0},
            }
        )
    )
    mixture = resolve_mixture(str(path), catalog)
    assert mixture.name == "dmc-heavy"
    assert "metaworld-reach" not in mixture.task_ids  # weight 0 drops the family
    assert math.isclose(mixture.weight_of("dmc-walker-walk"), 2 / 3 * 3 / 6)
    assert math.isclose(mixture.weight_of("dmc-cartpole-balance"), 1 / 3 * 3 / 6)
    assert math.isclose(mixture.weight_of("atari-pong"), 1 / 6)
    assert math.isclose(mixture.weight_of("text"), 1 / 6)
    # The recorded definition resolves to the same mixture again.
    again = build_mixture(mixture.definition, catalog)
    assert again.components == mixture.components


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("al", r"unknown mixture selector 'al' \(did you mean: all"),
        ("same-domain:dmcc", "unknown family 'dmcc'.*did you mean: dmc"),
        ("babyai-pickup", "has no data set: collect one with 'gato-eval data collect"),
        ("all,-atari-pongg", "cannot exclude unknown source 'atari-pongg'"),
        ("  ", "the mixture is empty"),
        ("text,-text", "no source with a positive weight"),
    ],
)
def test_bad_mixture_strings_are_one_line_errors(catalog, text, message):
    with pytest.raises(GatoEvalError, match=message):
        resolve_mixture(text, catalog)


def test_all_without_any_data_set_says_how_to_get_one():
    empty = DataCatalog(
        families={"dmc-walker-walk": "dmc"}, with_data=frozenset(), heldout=frozenset()
    )
    with pytest.raises(GatoEvalError, match="data collect"):
        resolve_mixture("all", empty)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"include": ["all"]}', "is not a mixture file"),
        ('{"format": "gato-eval-mixture", "version": 9, "include": ["all"]}', "version 9"),
        (
            '{"format": "gato-eval-mixture", "version": 1, "include": ["all"], "weights": {}}',
            "unknown mixture keys",
        ),
        (
            '{"format": "gato-eval-mixture", "version": 1, "include": ["all"], '
            '"family_weights": {"dmc": -1}}',
            "finite and >= 0",
        ),
        (
            '{"format": "gato-eval-mixture", "version": 1, "include": ["all"], '
            '"family_weights": {"dmc": "a lot"}}',
            "must be a number",
        ),
        (
            '{"format": "gato-eval-mixture", "version": 1, "include": ["all"], '
            '"family_weights": {"mujoco": 1}}',
            "unknown family 'mujoco'",
        ),
        (
            '{"format": "gato-eval-mixture", "version": 1, "include": ["control"], '
            '"task_weights": {"text": 1}}',
            "does not include",
        ),
        ('{"format": "gato-eval-mixture", "version": 1, "include": []}', "at least one selector"),
    ],
)
def test_bad_mixture_files_name_the_file(tmp_path, catalog, content, message):
    path = tmp_path / "mix.json"
    path.write_text(content)
    with pytest.raises(GatoEvalError, match=message) as err:
        load_mixture_file(path, catalog)
    assert str(path) in str(err.value)


def test_missing_mixture_file(tmp_path, catalog):
    with pytest.raises(GatoEvalError, match="does not exist"):
        resolve_mixture(str(tmp_path / "nope.json"), catalog)


def test_the_real_registry_holds_out_the_papers_tasks_from_every_implicit_mixture():
    """With a data set for every registered task, no implicit selector picks a held-out one."""
    installed = DataCatalog.from_installed()
    assert installed.heldout == HELDOUT
    everything = DataCatalog(
        families=installed.families, with_data=frozenset(installed.families), heldout=HELDOUT
    )
    for text in ("all", "control", *(f"same-domain:{f}" for f in ("atari", "dmc", "metaworld"))):
        mixture = resolve_mixture(text, everything)
        assert not HELDOUT & set(mixture.task_ids), text
        assert math.isclose(sum(c.weight for c in mixture.components), 1.0)
    assert len(resolve_mixture("control", everything).task_ids) == len(installed.families) - 3


def test_the_shipped_rebalanced_mixture_resolves_with_its_stated_shares():
    from pathlib import Path

    from gato_eval.suites.registry import all_tasks, get_suite

    path = Path(__file__).parents[2] / "benchmarks" / "default_mixture_rebalanced.json"
    tasks = get_suite("default").tasks
    families = {spec.task_id: spec.family for spec in all_tasks()}
    real = DataCatalog(families=families, with_data=frozenset(tasks), heldout=HELDOUT)
    weights = {c.source: c.weight for c in load_mixture_file(path, real).components}
    assert set(weights) == {*tasks, "text", "captions"}
    by_family = {}
    for source, weight in weights.items():
        family = families.get(source, source)
        by_family[family] = by_family.get(family, 0.0) + weight
    stated = {"atari": 0.06, "dmc": 0.32, "metaworld": 0.18, "babyai": 0.30}
    assert {f: round(by_family[f], 6) for f in stated} == stated
    assert weights["dmc-cartpole-balance"] > weights["dmc-point-mass-easy"]
