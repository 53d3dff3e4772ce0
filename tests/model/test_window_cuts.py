"""Window cuts on hand-made rows: timestep starts at 0, 3 and 6 of 8 cached positions."""

from __future__ import annotations

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.model.window_cuts import choose_cut, current_timestep_lengths

ROW = np.array([1, 0, 0, 1, 0, 0, 1, 0], dtype=bool)  # timesteps [0, 3), [3, 6), [6, 8)


def test_xl_drops_the_fewest_whole_timesteps_recompute_frees_its_chunk():
    # 4 more tokens in a context of 10: 8 - cut + 4 <= 10 needs cut >= 2.
    assert choose_cut(ROW, 4, 10, "xl", 3, False) == 3
    # recompute also wants 3 free positions after them: 8 - cut + 4 <= 7 needs cut >= 5.
    assert choose_cut(ROW, 4, 10, "recompute", 3, False) == 6
    # no cut frees a 5-position chunk: recompute drops as many whole timesteps as it may.
    assert choose_cut(ROW, 4, 10, "recompute", 5, False) == 6


def test_everything_may_go_only_for_tokens_that_start_a_timestep():
    assert choose_cut(ROW, 9, 10, "xl", 3, True) == 8
    with pytest.raises(GatoEvalError, match="cannot hold the current timestep"):
        choose_cut(ROW, 9, 10, "xl", 3, False)
    with pytest.raises(GatoEvalError, match="at once"):
        choose_cut(ROW, 11, 10, "xl", 3, True)


def test_the_current_timestep_ignores_stale_flags_past_a_rows_length():
    flags = np.zeros((3, 10), dtype=bool)
    flags[0, [0, 3, 6]] = True  # length 8: current timestep [6, 8)
    flags[1, [0, 3, 5]] = True  # length 5: the flag at 5 is stale, current timestep [3, 5)
    flags[2, [6]] = True  # length 4, no start inside: the whole row
    lengths = np.array([8, 5, 4])
    assert current_timestep_lengths(flags, lengths).tolist() == [2, 2, 4]
