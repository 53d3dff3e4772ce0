"""Prompt conditioning (paper Sec. 2.3-2.4, GATO.md section 3): which demonstration, which tokens.

At evaluation Gato's context starts with a successful demonstration of the same task; the live
episode follows in the same context. This module decides, for one episode seed:

1. **which demonstration**: one of the task's successful demonstrations
   (`successful_demonstrations`), picked by a generator seeded with the episode seed, so the
   choice does not depend on the slot or on how many slots there are. A demonstration whose
   reset seed is the evaluated episode's own is never picked: it would show the model the
   solution of the very initial state it is evaluated on (data collection draws its seeds from
   another stream, `rollout.SEED_STREAMS`, but older data sets, the bundled prompts among them,
   used the evaluation one);
2. **which of its tokens** (`prompt_window`), by strategy:

   | strategy  | window (whole timesteps only, at most `max_tokens`)                  |
   |-----------|----------------------------------------------------------------------|
   | `first`   | the demonstration's beginning (the paper's evaluation default)       |
   | `end`     | its last timesteps, ending at the final one (goal-like, as in training) |
   | `uniform` | a window starting at a uniformly drawn timestep (as in training)     |
   | `none`    | no prompt                                                            |

Windows are cut only at timestep starts (`TokenBatch.timestep_start`), never inside a timestep.

Default length: half the model's context (`default_prompt_tokens`). The paper prompted with the
first 1024 tokens into a 1024-token context plus Transformer-XL memory; with this project's
sliding key/value window a full-context prompt would leave no room for the live episode before
it starts sliding out, so half keeps both the demonstration and a stretch of the episode's own
history in view.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gato_eval.core.episode import Episode
from gato_eval.core.errors import GatoEvalError, check_choice
from gato_eval.core.paths import BUNDLED_DIR
from gato_eval.data.datasets import list_datasets
from gato_eval.data.minari_io import read_episodes
from gato_eval.run.settings import PROMPT_SOURCES

# Where prompt demonstrations come from: the task's local data set, else the bundled ones
# ("auto"); only the bundled ones, so runs compare across machines ("bundled"); only local.
PROMPT_STREAM = 0x9207  # mixed into the episode seed: the prompt draw is its own random stream
GOOD_RETURN_FRACTION = 0.8  # of the best return, for data sets without a success flag (Sec. 3)


def default_prompt_tokens(context_length: int) -> int:
    """Half the model's context: see the module docstring."""
    return max(0, int(context_length) // 2)


def successful_indices(returns: Sequence[float], successes: Sequence[bool | None]) -> list[int]:
    """Positions of the demonstrations good enough to prompt with, in data set order.

    Where episodes carry a success flag: those that succeeded. Otherwise those whose return is
    at least 80% of the way from the worst to the best return in the set (the paper's training
    filter kept episodes with >= 80% of the expert return; the min-max form also works for
    negative returns such as Pong's).
    """
    flagged = [i for i, flag in enumerate(successes) if flag is not None]
    if flagged:
        return [i for i in flagged if successes[i]]
    if len(returns) == 0:
        return []
    values = np.asarray(returns, dtype=np.float64)
    threshold = values.min() + GOOD_RETURN_FRACTION * (values.max() - values.min())
    return [i for i, value in enumerate(values) if value >= threshold]


def successful_demonstrations(episodes: Sequence[Episode]) -> list[Episode]:
    """The episodes of `successful_indices`, in order."""
    keep = successful_indices([e.episode_return for e in episodes], [e.success for e in episodes])
    return [episodes[i] for i in keep]


def prompt_generator(seed: int) -> np.random.Generator:
    """The generator that draws an episode's prompt (its demonstration and its window)."""
    return np.random.default_rng([int(seed), PROMPT_STREAM])


def choose_demonstration(
    seeds: Sequence[int | None], episode_seed: int, rng: np.random.Generator
) -> int:
    """The index of one of the candidate demonstrations, whose reset seeds are `seeds`, drawn
    uniformly among those whose seed is not `episode_seed` (the evaluated episode's own).

    When no candidate is excluded the draw is `rng.integers(len(seeds))`, as it always was, so
    recorded runs reproduce.
    """
    if len(seeds) < 1:
        raise GatoEvalError("no successful demonstration to prompt with")
    allowed = [i for i, seed in enumerate(seeds) if seed is None or int(seed) != int(episode_seed)]
    if not allowed:
        raise GatoEvalError(
            f"the only demonstration to prompt episode seed {episode_seed} with was recorded "
            "from that same initial state: collect more with `gato-eval data collect`, use "
            "another --seed or --prompt-source, or run with --prompt none"
        )
    return allowed[int(rng.integers(len(allowed)))]


def demonstration_seeds(demonstrations: Sequence[Episode]) -> list[int | None]:
    """The reset seed of each candidate demonstration, without reading episodes from disk
    where the sequence knows them (`DatasetDemonstrations.seeds`)."""
    known = getattr(demonstrations, "seeds", None)
    if known is not None:
        return list(known)
    return [getattr(episode, "seed", None) for episode in demonstrations]


def load_prompt_demonstrations(task_id: str, source: str = "auto") -> Sequence[Episode]:
    """The successful demonstrations of `task_id` to prompt with, read lazily.

    source "auto": from the task's local data set (`gato-eval data collect`; the clean one, else
    the one with the least noise), else from the bundled prompt demonstrations, a data sets
    root of the same layout at `gato_eval/bundled/prompts/`; "local" or "bundled": only that
    one. Empty when none has the task.
    """

    check_choice(source, PROMPT_SOURCES, "prompt source")
    local, bundled = None, BUNDLED_DIR / "prompts"  # None: the user's data sets root
    roots = {"auto": (local, bundled), "local": (local,), "bundled": (bundled,)}[source]
    for root in roots:
        if root is not None and not root.is_dir():
            continue
        found = [info for info in list_datasets(root) if info.task_id == task_id]
        if found:
            return DatasetDemonstrations(min(found, key=lambda info: info.noise))
    return []


def _first_non_finite(episode: Episode) -> str | None:
    """'observation KEY at step T' (or 'actions at step T') where a float array of `episode`
    first holds NaN or inf; None when all are finite. Such a value would poison the prompt."""
    arrays = {f"observation {key!r}": value for key, value in episode.observations.items()}
    arrays["actions"] = episode.actions
    for label, value in arrays.items():
        if isinstance(value, list | tuple):  # text
            continue
        array = np.asarray(value)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            return f"{label} at step {int(np.argwhere(~np.isfinite(array))[0][0])}"
    return None


class DatasetDemonstrations(Sequence):
    """The successful episodes of one data set, each read from disk when first asked for.

    Only the few most recently used episodes are kept in memory (an Atari episode is tens of MB).
    """

    KEEP_IN_MEMORY = 4

    def __init__(self, info):
        self.info = info
        self.indices = successful_indices(info.returns, info.successes)
        self.seeds = [int(info.seeds[i]) for i in self.indices]  # reset seed of each candidate
        self._recent: dict[int, Episode] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> Episode:

        if position in self._recent:
            return self._recent[position]
        stored = self.indices[position]
        try:
            (episode,) = read_episodes(self.info.path / "data", self.info.task_id, [stored])
        except (OSError, KeyError, ValueError) as err:
            raise GatoEvalError(
                f"data set {self.info.name} ({self.info.path}) is corrupted: reading prompt "
                f"episode {stored} failed ({type(err).__name__}: {err})"
            ) from None
        # Checked once per read from disk, not per prompt: a cached episode was checked.
        where = _first_non_finite(episode)
        if where is not None:
            raise GatoEvalError(
                f"prompt episode {stored} of data set {self.info.name} ({self.info.path}) has a "
                f"non-finite {where}; recollect it with `gato-eval data collect ... --overwrite` "
                "or run with --prompt none"
            )
        if len(self._recent) >= self.KEEP_IN_MEMORY:
            self._recent.pop(next(iter(self._recent)))
        self._recent[position] = episode
        return episode
