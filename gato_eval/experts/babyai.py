"""BabyAI: minigrid's `BabyAIBot`, one bot per slot and episode, and a simulator search for the
levels the bot cannot solve.

The bot plans from the minigrid env itself (`env.unwrapped`: grid, agent position, parsed
instructions), not from the agent's partial view. It is told the action that was really executed
(`replan(action_taken)`), so under epsilon-noise it re-plans from where the agent actually is
(the DAgger-style use its docstring describes).

Guards the bot needs on some seeds and levels:
- Its planner can loop forever (seen on BabyAI-GoToImpUnlock-v0, seed 6: an exploration subgoal
  re-planning without end). Each `replan` may run at most `MAX_SEARCHES_PER_STEP` breadth-first
  searches; past that the bot is rebuilt from the current state (it forgets what it had seen)
  and asked again. `stalls` counts these per episode; after `MAX_STALLS_PER_EPISODE` the bot
  is dropped for the rest of the episode (below).
- It raises on levels it cannot solve (its docstring names PutNextS*Carrying and KeyInBox:
  "nothing left to explore"). Then too the bot is dropped.
- Epsilon-noise picks only the navigation actions (left, right, forward): a random pickup, drop
  or toggle can make a level unsolvable (the bot refuses an opened box, for instance).

Where the bot is dropped, `babyai_search.plan_episode` (a bounded search over the simulator)
plans from the current state; on `SEARCH_LEVELS`, the levels the bot is known not to solve
(raises on all of them, or loops on about half of UnlockToUnlock), the search is used from the
first step and no bot is built. The bot stays the demonstrator of every other level. A search
plan is followed while the executed actions are the planned ones and re-planned from the real
state otherwise (noise). `searched` counts the plans made per slot and episode. If the search
finds no plan within its bound, the demonstrator gives up for the rest of the episode: the agent
sends `done` (which changes nothing) until the episode is truncated, so the episode is recorded
as a failure with return 0 and the reason is kept in `gave_up`. Data consumers filter such
episodes by return (GATO.md Sec. 4).

OpenDoorsOrderN2Debug / N4Debug stay with the bot although it succeeds on only about a third of
their episodes: their two-door missions ("open X, then open Y", "open X after you open Y") cannot
be completed at all in minigrid 3.2.0. With strict (Debug) instructions, the toggle that
completes the first door is verified again against the second door's instruction, which sees a
door that is not its own and fails the episode; the other first toggles fail it directly. The bot
solves every single-door mission, so no demonstrator can do better there.
"""

from __future__ import annotations

import numpy as np

from gato_eval.core.policy import BatchedObservation
from gato_eval.experts import babyai_search
from gato_eval.experts.babyai_search import DONE, FORWARD, LEFT, RIGHT
from gato_eval.experts.base import Demonstrator

MAX_SEARCHES_PER_STEP = 500
MAX_STALLS_PER_EPISODE = 3
# Levels the bot does not solve (results/demonstrators.md, before the search): searched from the
# first step.
SEARCH_LEVELS = frozenset(
    {
        "BabyAI-KeyInBox-v0",
        "BabyAI-PutNextS5N2Carrying-v0",
        "BabyAI-PutNextS6N3Carrying-v0",
        "BabyAI-PutNextS7N4Carrying-v0",
        "BabyAI-UnlockToUnlock-v0",
    }
)
SEARCH_VERSION = 1  # bump when the search's plans change


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
    """minigrid.utils.baby_ai_bot.BabyAIBot, or the simulator search, behind the batched Policy
    contract."""

    name = "babyai-bot"
    random_actions = (LEFT, RIGHT, FORWARD)

    def __init__(self, task, noise: float = 0.0):
        super().__init__(task, noise)
        from importlib import metadata

        self.version = (
            f"minigrid-{metadata.version('minigrid')}+guard{MAX_SEARCHES_PER_STEP}"
            f"+search{SEARCH_VERSION}"
        )
        self.search_limit = babyai_search.MAX_EXPANSIONS  # expanded nodes per search plan
        # True: the search plans from the first step; False: the bot plays until it fails.
        self.search_first = task.env_id in SEARCH_LEVELS
        self._bot_class = _bounded_bot_class()
        self._bots: dict[int, object] = {}
        self._last_executed: dict[int, int | None] = {}
        self._plans: dict[int, list[int]] = {}  # slot -> rest of its search plan; absent: bot
        self._planned: dict[int, int | None] = {}  # slot -> last action taken from its plan
        self.stalls: dict[int, int] = {}
        self.searched: dict[int, int] = {}
        self.bot_failed: dict[int, str] = {}  # slot -> why the bot was dropped this episode
        self.gave_up: dict[int, str] = {}

    def reset_slot(self, env_index: int, seed: int) -> None:
        # The engine resets the env before calling this, so the bot reads the new mission.
        self._last_executed[env_index] = None
        self.stalls[env_index] = 0
        self.searched[env_index] = 0
        self.gave_up.pop(env_index, None)
        self.bot_failed.pop(env_index, None)
        self._plans.pop(env_index, None)
        self._planned[env_index] = None
        if self.search_first:
            self._bots.pop(env_index, None)
            self._plans[env_index] = []
        else:
            self._bots[env_index] = self._bot_class(self.envs[env_index])

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
        if slot in self._plans:
            return self._search_step(slot)
        taken = self._last_executed[slot]
        try:
            return int(self._bots[slot].replan(taken))
        except BotStalledError as err:
            self.stalls[slot] += 1
            if self.stalls[slot] > MAX_STALLS_PER_EPISODE:
                return self._drop_bot(slot, err)
        except Exception as err:  # the bot's own "cannot solve this" (assertions, box errors)
            return self._drop_bot(slot, err)
        self._bots[slot] = self._bot_class(self.envs[slot])
        try:
            return int(self._bots[slot].replan(None))
        except Exception as err:
            return self._drop_bot(slot, err)

    def _drop_bot(self, slot: int, err: Exception) -> int:
        """The bot failed for this episode: search from here on."""
        self._bots.pop(slot, None)
        self._plans[slot] = []
        self.bot_failed[slot] = f"{type(err).__name__}: {err}"[:200]
        return self._search_step(slot)

    def _search_step(self, slot: int) -> int:
        plan = self._plans[slot]
        if not plan or self._last_executed[slot] != self._planned[slot]:
            # No plan yet, or noise took the agent off it: plan from the real state.
            self.searched[slot] += 1
            found = babyai_search.plan_episode(self.env(slot), self.search_limit)
            if not found:
                bot = f"{self.bot_failed[slot]}; " if slot in self.bot_failed else ""
                return self._give_up(
                    slot, f"{bot}the search found no plan (bound: {self.search_limit} nodes)"
                )
            plan = self._plans[slot] = found
        self._planned[slot] = plan.pop(0)
        return self._planned[slot]

    def _give_up(self, slot: int, reason: str) -> int:
        self.gave_up[slot] = reason[:400]
        return DONE
