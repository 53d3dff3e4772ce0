"""Hostile and mistaken inputs through the real CLI (the corpus is `hostile_inputs.CASES`).

Each case: a non-zero exit, one `error:` line naming the problem, no traceback, every file
that existed before byte-identical afterwards, and no stray new file.
"""

from __future__ import annotations

import pytest
from hostile_inputs import CASES, build_assets, check_case


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("hostile-assets")
        patch.setenv("GATO_EVAL_HOME", str(root / "assets-home"))
        yield build_assets(root)


def test_the_corpus_is_large_and_named_uniquely():
    names = [case.name for case in CASES]
    assert len(names) >= 25 and len(set(names)) == len(names)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_is_refused_cleanly(case, assets, tmp_path):
    check_case(case, tmp_path / "sandbox", assets)
