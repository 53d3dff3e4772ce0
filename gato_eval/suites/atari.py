"""Atari: the 57 games of the Atari-57 benchmark (ALE v5) as the observation dict contract.

Decisions (recorded in each TaskSpec's options, see catalog.ATARI_OPTIONS):
- `ALE/<Game>-v5` with frame skip 4 and sticky actions 0.25, the v5 defaults that follow
  Machado et al. (2018): the stochasticity comes from sticky actions, so there are no random
  no-op starts (`noop_max` 0).
- The full 18-action space for every game, so one action vocabulary serves all games
  (a generalist model cannot depend on a per-game minimal set). ALE gives Skiing only 9 legal
  actions even then (no FIRE combinations); its FIRE variants act as the same move without
  FIRE (UPFIRE -> UP, FIRE -> NOOP), so Skiing too takes Discrete(18).
- Raw, unclipped rewards; losing a life does not end the episode (Gato's scores, like the
  random/human references, are game scores of whole games).
- At most 27,000 agent steps (108,000 frames = 30 minutes at 60 Hz), the cap of the
  random/human reference scores; ALE also enforces it as `max_num_frames_per_episode`.
- `image`: uint8 (80, 64, 3), the RGB frame (210 x 160) shrunk by area averaging (each output
  pixel is the mean of the source area it covers; about 0.3 ms per frame).
  80 x 64 keeps both sides multiples of Gato's 16-pixel patches: 5 x 4 = 20 patches per frame.
- No success flag: games define none.

`env.unwrapped.ale` is the ALE interface (RAM for scripted demonstrators: `getRAM()`);
`env.render()` returns the full 210 x 160 frame.
"""

from __future__ import annotations

from functools import cache

import gymnasium
import numpy as np
from gymnasium import spaces

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec


@cache
def area_weights(source: int, target: int) -> np.ndarray:
    """float32 (target, source): row i averages the source pixels that output pixel i covers.

    Output pixel i spans [i, i + 1) * source / target in source coordinates; a source pixel it
    covers partly counts with the covered fraction. Each row sums to 1.
    """
    scale = source / target
    starts = np.arange(target)[:, None] * scale  # (target, 1)
    pixels = np.arange(source)[None, :]  # (1, source)
    overlap = np.minimum(starts + scale, pixels + 1) - np.maximum(starts, pixels)
    return (np.clip(overlap, 0.0, None) / scale).astype(np.float32)


@cache
def area_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """The nonzero entries of `area_weights` as (indices, weights), both (K, target).

    K is the most source pixels one output pixel touches (4 for 210 -> 80); unused taps have
    weight 0: out[i] = sum_k weights[k, i] * src[indices[k, i]].
    """
    dense = area_weights(source, target)
    taps = int((dense > 0).sum(axis=1).max())
    indices = np.zeros((taps, target), np.intp)
    weights = np.zeros((taps, target), np.float32)
    for i, row in enumerate(dense):
        covered = np.flatnonzero(row)
        indices[: len(covered), i] = covered
        weights[: len(covered), i] = row[covered]
    return indices, weights


def downscale_frame(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (height, width, 3) by area averaging (height <= H, width <= W).

    Rows by a few gathers of whole source rows, columns by one small matrix product: about
    0.3 ms for 210 x 160 -> 80 x 64, several times faster than two dense products.
    """
    row_index, row_weight = area_taps(frame.shape[0], height)
    rows = row_weight[0][:, None, None] * frame[row_index[0]]  # (height, W, 3) float32
    for index, weight in zip(row_index[1:], row_weight[1:], strict=True):
        rows += weight[:, None, None] * frame[index]
    columns = np.ascontiguousarray(area_weights(frame.shape[1], width).T)  # (W, width)
    shrunk = np.matmul(rows.transpose(0, 2, 1), columns)  # (height, 3, width)
    # A convex mix of uint8 values stays within [0, 255].
    return np.rint(shrunk.transpose(0, 2, 1)).astype(np.uint8)  # (height, width, 3)


class AtariImage(gymnasium.ObservationWrapper, gymnasium.utils.RecordConstructorArgs):
    """The ALE RGB frame -> {"image": uint8 (height, width, 3)}.

    Records its constructor arguments (as every wrapper here does), so `env.spec` re-makes the
    whole stack and Gymnasium's env checker accepts it.
    """

    def __init__(self, env: gymnasium.Env, height: int, width: int):
        gymnasium.utils.RecordConstructorArgs.__init__(self, height=height, width=width)
        gymnasium.ObservationWrapper.__init__(self, env)
        self.height, self.width = height, width
        self.observation_space = spaces.Dict(
            {"image": spaces.Box(0, 255, (height, width, 3), np.uint8)}
        )

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"image": downscale_frame(observation, self.height, self.width)}


class FullActionSet(gymnasium.ActionWrapper, gymnasium.utils.RecordConstructorArgs):
    """Discrete(18) in ALE's full action order, for games whose legal set is smaller (Skiing).

    An action the game lacks acts as the same move without FIRE; games with all 18 actions map
    each action to itself.
    """

    def __init__(self, env: gymnasium.Env):
        import ale_py

        gymnasium.utils.RecordConstructorArgs.__init__(self)
        gymnasium.ActionWrapper.__init__(self, env)
        legal = env.unwrapped.get_action_meanings()
        full = [action.name for action in ale_py.Action]  # NOOP, FIRE, UP, ..., DOWNLEFTFIRE
        self.to_legal = []
        for name in full:
            fallback = name.replace("FIRE", "") or "NOOP"
            self.to_legal.append(legal.index(name if name in legal else fallback))
        self.action_space = spaces.Discrete(len(full))

    def action(self, action):
        return self.to_legal[int(action)]


def make_env(spec: TaskSpec, render_mode: str | None = None) -> gymnasium.Env:
    """The ALE game `spec.env_id` with the contract's downscaled image and a step cap."""
    import ale_py

    options = spec.options
    height, width = options["image_height"], options["image_width"]
    if height % 16 or width % 16 or not (16 <= height <= 210 and 16 <= width <= 160):
        raise GatoEvalError(
            f"Atari image sides must be multiples of 16 within 210 x 160, got {height}x{width}"
        )
    if not 0.0 <= options["repeat_action_probability"] <= 1.0:
        raise GatoEvalError("repeat_action_probability must lie in [0, 1]")
    if options["frameskip"] < 1:
        raise GatoEvalError("frameskip must be at least 1")

    gymnasium.register_envs(ale_py)
    env = gymnasium.make(
        spec.env_id,
        frameskip=options["frameskip"],
        repeat_action_probability=options["repeat_action_probability"],
        full_action_space=options["full_action_space"],
        max_num_frames_per_episode=options["max_num_frames_per_episode"],
        render_mode=render_mode,
        disable_env_checker=True,
    )
    if options["full_action_space"]:
        env = FullActionSet(env)
    env = AtariImage(env, height, width)
    return gymnasium.wrappers.TimeLimit(env, max_episode_steps=spec.max_episode_steps)
