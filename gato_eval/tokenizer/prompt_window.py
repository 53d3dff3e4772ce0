"""Where a prompt sits inside a tokenized demonstration: whole timesteps, at most N tokens.

The paper (Sec. 3.3 and App. C.2) prompts with a demonstration of the same task, half of the
time from its end and half uniformly from it; `prompt_window` cuts that window (and the
`first` / `none` variants) out of one demonstration's token positions. Evaluation prompts
(`gato_eval.policies.prompting`) and training sequences (`gato_eval.corpus.sequences`) share it.
"""

from __future__ import annotations

import numpy as np

from gato_eval.core.errors import GatoEvalError, check_choice
from gato_eval.run.settings import PROMPT_STRATEGIES


def prompt_window(
    timestep_start: np.ndarray,
    strategy: str,
    max_tokens: int,
    rng: np.random.Generator | None = None,
) -> tuple[int, int]:
    """[start, end) positions of the prompt inside one tokenized demonstration.

    `timestep_start` is bool (L,) over the demonstration's L positions (True where a timestep
    begins; position 0 must be one). The window holds whole timesteps and at most `max_tokens`
    positions; (0, 0) when the strategy is `none` or not one timestep fits. `uniform` needs `rng`.
    """
    check_choice(strategy, PROMPT_STRATEGIES, "prompt strategy")
    length = len(timestep_start)
    if strategy == "none" or max_tokens <= 0 or length == 0:
        return 0, 0
    starts = np.flatnonzero(timestep_start)
    if len(starts) == 0 or starts[0] != 0:
        raise GatoEvalError("a tokenized demonstration must begin with a timestep start")
    boundaries = np.append(starts, length)  # every place a window may begin or end
    if strategy == "first":
        return 0, _last_boundary_within(boundaries, max_tokens)
    if strategy == "end":
        first = int(np.searchsorted(boundaries, length - max_tokens, side="left"))
        start = int(boundaries[first])
        return (start, length) if start < length else (0, 0)
    if rng is None:
        raise GatoEvalError("the uniform prompt strategy needs a random generator")
    # Full-length windows where the demonstration is long enough, else the whole of it.
    fits = starts[starts + max_tokens <= length]
    start = int(fits[rng.integers(len(fits))]) if len(fits) else 0
    end = _last_boundary_within(boundaries, start + max_tokens)
    return (start, end) if end > start else (0, 0)


def _last_boundary_within(boundaries: np.ndarray, limit: int) -> int:
    index = int(np.searchsorted(boundaries, limit, side="right")) - 1
    return int(boundaries[max(index, 0)])
