"""Atari: players that read the emulator RAM (`env.unwrapped.ale.getRAM()`), for the agent's
full 18-action space (0 NOOP, 1 FIRE, 2 UP, 3 RIGHT, 4 LEFT, 5 DOWN, 6-9 diagonals, 10-17 the
same with FIRE).

RAM addresses are the AtariARI annotations (Anand et al. 2019), checked on ale-py 0.12.1
(../shared/reference/atari_ram.md). The agent being evaluated still sees only pixels.

- Pong: predict where the ball crosses the paddle's column (reflecting off the top and bottom
  walls) and stop the paddle so the ball meets its upper edge, which returns steep shots the
  computer misses. The paddle keeps moving after a release (inertia), so the controller aims
  the *stopping* position `y + 0.8 v`. In the full action space RIGHT moves the paddle up and
  LEFT down (UP and DOWN do nothing).
- Breakout: the paddle's motion is linear in the last two actions (each press moves it ~21.5
  pixels, half in the step it is pressed, half in the next), so each step picks the action whose
  predicted position is closest to where the ball will come down (walls reflected). FIRE serves
  after every lost life.
- Boxing: head-on the opponent blocks (and cannot land punches either); a punch thrown while
  stepping diagonally towards it and off its line lands. The player keeps ~24 pixels of
  horizontal distance, near head-on, and punches that way when in range.

Measured scores are in results/demonstrators.md (benchmarks/demonstrators.py).
"""

from __future__ import annotations

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.policy import BatchedObservation
from gato_eval.core.task_spec import TaskSpec
from gato_eval.experts.base import Demonstrator

NOOP, FIRE, UP, RIGHT, LEFT, DOWN = 0, 1, 2, 3, 4, 5
# (dx, dy) -> the full-action-space action that moves that way (screen y grows downwards).
MOVE = {(0, -1): 2, (1, 0): 3, (-1, 0): 4, (0, 1): 5}
MOVE.update({(1, -1): 6, (-1, -1): 7, (1, 1): 8, (-1, 1): 9})
MOVE_FIRE = {(0, -1): 10, (1, 0): 11, (-1, 0): 12, (0, 1): 13}
MOVE_FIRE.update({(1, -1): 14, (-1, -1): 15, (1, 1): 16, (-1, 1): 17, (0, 0): FIRE})


def reflect(value: float, low: float, high: float) -> float:
    """Where a point moving freely to `value` ends up between walls at `low` and `high`."""
    span = high - low
    folded = (value - low) % (2 * span)
    return low + (folded if folded <= span else 2 * span - folded)


class RamPlayer(Demonstrator):
    """Base of the RAM players: one small state dict per slot, reset with each episode."""

    version = "1"

    def __init__(self, task: TaskSpec, noise: float = 0.0):
        super().__init__(task, noise)
        self._state: dict[int, dict] = {}

    def reset_slot(self, env_index: int, seed: int) -> None:
        self._state[env_index] = {}

    def expert_actions(self, observations: BatchedObservation, env_indices: np.ndarray):
        """int64 (B,) full-action-space actions from each slot's RAM."""
        actions = np.empty(len(env_indices), dtype=np.int64)
        for row, slot in enumerate(env_indices):
            ram = self.env(slot).ale.getRAM()
            actions[row] = self.choose(ram.astype(np.int64), self._state[int(slot)])
        return actions

    def choose(self, ram: np.ndarray, state: dict) -> int:
        """One action from the RAM (uint8 (128,) as int64) and this episode's `state`."""
        raise NotImplementedError


class PongPlayer(RamPlayer):
    """Right paddle: intercept prediction, upper-edge hits, inertia-aware stopping."""

    name = "atari-pong-ram"
    BALL_X, BALL_Y, PADDLE_Y = 49, 54, 51
    TOP, BOTTOM = 47, 205  # ball y where it bounces off the walls
    HIT_X = 188  # ball x where it meets the paddle
    AIM = 4  # ball y - paddle y at contact: the paddle's upper edge (hits span about -2..17)
    MARGIN, COAST = 5, 0.8
    REST_Y = 125  # where the paddle waits while the ball moves away

    def choose(self, ram: np.ndarray, state: dict) -> int:
        ball_x, ball_y, paddle = ram[self.BALL_X], ram[self.BALL_Y], ram[self.PADDLE_Y]
        velocity = paddle - state.get("paddle", paddle)
        state["paddle"] = paddle
        target = self.REST_Y
        previous = state.get("ball")
        if ball_y and previous is not None and previous[1]:
            dx, dy = ball_x - previous[0], ball_y - previous[1]
            if dx > 0 and ball_x < self.HIT_X:
                crossing = ball_y + dy * (self.HIT_X - ball_x) / dx
                target = reflect(crossing, self.TOP, self.BOTTOM) - self.AIM
            elif dx > 0:
                target = ball_y - self.AIM
        state["ball"] = (ball_x, ball_y)
        error = target - (paddle + self.COAST * velocity)
        if error > self.MARGIN:
            return LEFT  # down
        if error < -self.MARGIN:
            return RIGHT  # up
        return NOOP


class BreakoutPlayer(RamPlayer):
    """Paddle placed by a two-step linear motion model under the predicted landing point."""

    name = "atari-breakout-ram"
    PADDLE_X, BALL_X, BALL_Y = 72, 99, 101
    LEFT_WALL, RIGHT_WALL = 55, 200  # ball x where it bounces off the side walls
    HIT_Y = 178  # ball y where it meets the paddle
    AIM = 9  # ball x - paddle x at contact: the paddle's centre (hits span about 1..17)
    HALF_STEP = 10.75  # pixels a press moves the paddle in each of two steps

    def choose(self, ram: np.ndarray, state: dict) -> int:
        paddle, ball_x, ball_y = ram[self.PADDLE_X], ram[self.BALL_X], ram[self.BALL_Y]
        if ball_y == 0:  # no ball in play: serve
            state.clear()
            return FIRE
        target, steps_left = ball_x - self.AIM, None
        previous = state.get("ball")
        if previous is not None:
            dx, dy = ball_x - previous[0], ball_y - previous[1]
            if dy > 0 and ball_y < self.HIT_Y:
                steps_left = (self.HIT_Y - ball_y) / dy
                landing = ball_x + dx * steps_left
                target = reflect(landing, self.LEFT_WALL, self.RIGHT_WALL) - self.AIM
        state["ball"] = (ball_x, ball_y)
        # Position after this step = paddle + half of the previous press + half of this one;
        # the rest of this press lands next step unless the ball arrives first.
        base = paddle + self.HALF_STEP * state.get("press", 0)
        reach = (
            self.HALF_STEP if steps_left is not None and steps_left <= 1.5 else 2 * self.HALF_STEP
        )
        press = min((-1, 0, 1), key=lambda u: (abs(target - (base + reach * u)), abs(u)))
        state["press"] = press
        return {1: RIGHT, -1: LEFT, 0: NOOP}[press]


class BoxingPlayer(RamPlayer):
    """Near head-on at punching distance; punches while stepping diagonally in and aside."""

    name = "atari-boxing-ram"
    PLAYER_X, OPPONENT_X, PLAYER_Y, OPPONENT_Y = 32, 33, 34, 35
    RING_X, RING_Y = (0, 109), (2, 87)
    REACH = 24  # horizontal distance kept from the opponent
    OFFSET = 4  # vertical offset kept (on our current side of its line)
    TOLERANCE = 8  # horizontal slack before punching

    def choose(self, ram: np.ndarray, state: dict) -> int:
        px, ex = ram[self.PLAYER_X], ram[self.OPPONENT_X]
        py, ey = ram[self.PLAYER_Y], ram[self.OPPONENT_Y]
        side = -1 if px < ex else 1
        target_x = ex + side * self.REACH
        if not self.RING_X[0] <= target_x <= self.RING_X[1]:
            side = -side
            target_x = ex + side * self.REACH
        above_or_below = 1 if py >= ey else -1
        target_y = ey + above_or_below * self.OFFSET
        if abs(px - target_x) <= self.TOLERANCE and abs(target_y - py) <= 4:
            step_y = above_or_below
            if not self.RING_Y[0] + 4 <= py + 4 * step_y <= self.RING_Y[1] - 4:
                step_y = -step_y
            return MOVE_FIRE[(-side, step_y)]
        move_x = int(np.sign(target_x - px)) if abs(target_x - px) > 2 else 0
        move_y = int(np.sign(target_y - py)) if abs(target_y - py) > 2 else 0
        return MOVE.get((move_x, move_y), NOOP)


_PLAYERS = {
    "ALE/Pong-v5": PongPlayer,
    "ALE/Breakout-v5": BreakoutPlayer,
    "ALE/Boxing-v5": BoxingPlayer,
}


def make_atari_expert(task: TaskSpec, noise: float = 0.0) -> RamPlayer:
    """The RAM player of an Atari task (pong, breakout, boxing)."""
    player = _PLAYERS.get(task.env_id)
    if player is None:
        raise GatoEvalError(f"no RAM player for {task.env_id}")
    if not task.options.get("full_action_space", True):
        raise GatoEvalError("the RAM players act in the full 18-action space")
    return player(task, noise)
