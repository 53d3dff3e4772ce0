"""BabyAI: minigrid's `BabyAIBot`, one bot per slot and episode.

The bot plans from the minigrid env itself (`env.unwrapped`: grid, agent position, parsed
instructions), not from the agent's partial view. It is told the action that was really executed
(`replan(action_taken)`), so under epsilon-noise it re-plans from where the agent actually is
(the DAgger-style use its docstring describes).

Guards the bot needs on some seeds and levels:
- Its planner can loop forever (seen on BabyAI-GoToImpUnlock-v0, seed 6: an exploration subgoal
  re-planning without end). Each `replan` may run at most `MAX_SEARCHES_PER_STEP` breadth-first
  searches; past that the bot is rebuilt from the current state (it forgets what it had seen)
  and asked again. `stalls` counts these per episode; after `MAX_STALLS_PER_EPISODE` the bot
  gives up (below): on BabyAI-UnlockToUnlock-v0 about half the seeds loop like this for good.
- It raises on levels it cannot solve (its docstring names PutNextS*Carrying and KeyInBox:
  "nothing left to explore"). Then, and when a rebuilt bot stalls again, it gives up for the
  rest of the episode: the agent sends `done` (which changes nothing) until the episode is
  truncated, so the episode is recorded as a failure with return 0 and the reason is kept in
  `gave_up`. Data consumers filter such episodes by return (GATO.md Sec. 4).
- Epsilon-noise picks only the navigation actions (left, right, forward): a random pickup, drop
  or toggle can make a level unsolvable (the bot refuses an opened box, for instance).
"""

from __future__ import annotations

import numpy as np

from gato_eval.experts.base import Demonstrator
from gato_eval.policies.base import BatchedObservation

MAX_SEARCHES_PER_STEP = 500
MAX_STALLS_PER_EPISODE = 3
LEFT, RIGHT, FORWARD, DONE = 0, 1, 2, 6


class BotStalledError(RuntimeError):
    """The bot's planner ran past its search budget for one step."""


def _bounded_bot_class():
    from minigrid.utils.baby_ai_bot import BabyAIBot

    class BoundedBabyAIBot(BabyAIBot):
        """BabyAIBot whose `replan` gives up after a bounded number of searches."""

        searches_this_step = 0

        def replan(self, action_taken=None):
            self.searches_this_step = 0
            return super().replan(action_taken)

        def _breadth_first_search(self, *args, **kwargs):
            self.searches_this_step += 1
            if self.searches_this_step > MAX_SEARCHES_PER_STEP:
                raise BotStalledError("BabyAIBot planner loop")
            return super()._breadth_first_search(*args, **kwargs)

    return BoundedBabyAIBot


class BabyAIBotExpert(Demonstrator):
    """minigrid.utils.baby_ai_bot.BabyAIBot behind the batched Policy contract."""

    name = "babyai-bot"
    random_actions = (LEFT, RIGHT, FORWARD)

    def __init__(self, task, noise: float = 0.0):
        super().__init__(task, noise)
        from importlib import metadata

        self.version = f"minigrid-{metadata.version('minigrid')}+guard{MAX_SEARCHES_PER_STEP}"
        self._bot_class = _bounded_bot_class()
        self._bots: dict[int, object] = {}
        self._last_executed: dict[int, int | None] = {}
        self.stalls: dict[int, int] = {}
        self.gave_up: dict[int, str] = {}

    def reset_slot(self, env_index: int, seed: int) -> None:
        # The engine resets the env before calling this, so the bot reads the new mission.
        self._bots[env_index] = self._bot_class(self.envs[env_index])
        self._last_executed[env_index] = None
        self.stalls[env_index] = 0
        self.gave_up.pop(env_index, None)

    def expert_actions(self, observations: BatchedObservation, env_indices: np.ndarray):
        """int64 (B,) minigrid actions."""
        actions = np.empty(len(env_indices), dtype=np.int64)
        for row, slot in enumerate(env_indices):
            actions[row] = self._plan(int(slot))
        return actions

    def observe_executed(self, executed: np.ndarray, env_indices: np.ndarray) -> None:
        for row, slot in enumerate(env_indices):
            self._last_executed[int(slot)] = int(executed[row])

    def _plan(self, slot: int) -> int:
        if slot in self.gave_up:
            return DONE
        taken = self._last_executed[slot]
        try:
            return int(self._bots[slot].replan(taken))
        except BotStalledError as err:
            self.stalls[slot] += 1
            if self.stalls[slot] > MAX_STALLS_PER_EPISODE:
                return self._give_up(slot, err)
        except Exception as err:  # the bot's own "cannot solve this" (assertions, box errors)
            return self._give_up(slot, err)
        self._bots[slot] = self._bot_class(self.envs[slot])
        try:
            return int(self._bots[slot].replan(None))
        except Exception as err:
            return self._give_up(slot, err)

    def _give_up(self, slot: int, err: Exception) -> int:
        self.gave_up[slot] = f"{type(err).__name__}: {err}"[:200]
        return DONE
