"""A search planner over the minigrid simulator, for the BabyAI levels minigrid's bot cannot solve.

Why it exists: the demonstrator must succeed on >= 95% of episodes on every BabyAI level, and
minigrid's `BabyAIBot` fails on seven of them (results/demonstrators.md): it raises "nothing left
to explore" on PutNextS*Carrying and KeyInBox (it never drops what it carries first, and never
opens a box), its planner loops on about half of UnlockToUnlock, and on OpenDoorsOrderN*Debug its
first toggle is often a door that is not due, which ends the episode (strict `OpenInstr`).

`plan_episode(env)` finds a short action sequence that completes the mission from the env's
current state by searching the simulator itself, so the mission's own verifier decides what
success and failure are:

- A search node is a snapshot of what `RoomGridLevel.step` reads and writes: the grid (door and
  box states, object positions), the carried object, the instruction tree (sequence progress,
  `preCarrying`) and the agent's position and direction. Snapshots are deep copies; the walls
  are shared (nothing changes them), so a copy costs the few objects of the level.
- Between interactions the agent only moves, and moving changes nothing but its pose. So a node
  expands into macro steps: a breadth-first search over poses on the node's grid (left, right,
  forward into free or overlappable cells), then one interaction (pickup, toggle, drop) at the
  nearest pose facing each cell of interest. The interaction is played on the simulator from a
  copy of the node with the agent placed at that pose; the last navigation step's verifier call
  is replayed first, since verifiers track what was carried a step earlier (PutNext) and GoTo
  succeeds by facing an object.
- A step that terminates with reward > 0 reaches the goal; a termination with reward 0 is a dead
  end (toggling the wrong door on OpenDoorsOrder Debug). Truncation is ignored (the step count
  is reset to 0 in the copies, so a success always has a positive reward).
- Uniform-cost search over the number of primitive actions, with states hashed by (pose, carried
  object, grid encoding, instruction progress), returns the cheapest plan among these macro
  steps. Drops are tried at the `NEAREST_DROPS` nearest free cells (to free the hands) and, when
  the mission says "put ... next to ...", next to every object; drops elsewhere never help a
  BabyAI mission and multiply the states (UnlockToUnlock, which moves two keys, is out of reach
  within the bound if every cell next to an object is a drop candidate).
- The search stops after `max_expansions` nodes and returns None: it never hangs.

The env is left exactly as it was found (its own grid, carried object and instructions objects
are restored; only copies are stepped). Plans are int action lists, minigrid's action numbers.
"""

from __future__ import annotations

import copy
import heapq
import itertools
from collections import deque
from typing import Any

MAX_EXPANSIONS = 4000  # search nodes per plan; the seven levels need at most a few hundred
NEAREST_DROPS = 2
# minigrid's action numbers (`minigrid.core.actions.Actions`), shared with experts/babyai.py.
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = 0, 1, 2, 3, 4, 5, 6
DIR_TO_VEC = ((1, 0), (0, 1), (-1, 0), (0, -1))  # minigrid's: 0 = east, 1 = south, ...


class _Node:
    """A search state: the objects `step` mutates (owned by this node, never stepped) and a pose."""

    __slots__ = ("carrying", "dir", "grid", "instrs", "plan", "pos")

    def __init__(self, grid, carrying, instrs, pos, direction, plan):
        self.grid, self.carrying, self.instrs = grid, carrying, instrs
        self.pos: tuple[int, int] = (int(pos[0]), int(pos[1]))
        self.dir = int(direction)
        self.plan: list[int] = plan


def plan_episode(env: Any, max_expansions: int = MAX_EXPANSIONS) -> list[int] | None:
    """Actions (ints) that complete the mission of `env` (a BabyAI `RoomGridLevel`, unwrapped)
    from its current state, cheapest first among the macro steps above; None when the mission
    is out of reach within `max_expansions` expanded nodes (or unreachable)."""
    saved = (env.grid, env.carrying, env.instrs, env.agent_pos, env.agent_dir, env.step_count)
    # Walls never change, so copies share them (and the env itself, which instructions point to).
    shared = {id(env): env}
    shared.update(
        {id(cell): cell for cell in env.grid.grid if cell is not None and cell.type == "wall"}
    )
    try:
        return _search(env, shared, max_expansions)
    finally:
        env.grid, env.carrying, env.instrs = saved[0], saved[1], saved[2]
        env.agent_pos, env.agent_dir, env.step_count = saved[3], saved[4], saved[5]


def _search(env, shared: dict, max_expansions: int) -> list[int] | None:
    root = _Node(env.grid, env.carrying, env.instrs, env.agent_pos, env.agent_dir, [])
    counter = itertools.count()  # heap tie-break: first pushed, first popped
    heap: list = [(0, next(counter), False, root)]
    best = {_key(root): 0}
    expanded = 0
    while heap:
        cost, _, is_goal, node = heapq.heappop(heap)
        if is_goal:
            return node.plan
        if best.get(_key(node), cost) < cost:
            continue  # reached more cheaply since it was pushed
        expanded += 1
        if expanded > max_expansions:
            return None
        for child, goal in _successors(env, shared, node):
            child_cost = len(child.plan)
            if goal:
                heapq.heappush(heap, (child_cost, next(counter), True, child))
                continue
            key = _key(child)
            if best.get(key, child_cost + 1) <= child_cost:
                continue
            best[key] = child_cost
            heapq.heappush(heap, (child_cost, next(counter), False, child))
    return None


def _successors(env, shared: dict, node: _Node):
    """(child node, reached the goal) for each macro step out of `node`."""
    for pose, path, action in _macro_steps(node):
        grid, carrying, instrs = copy.deepcopy(
            (node.grid, node.carrying, node.instrs), dict(shared)
        )
        env.grid, env.carrying, env.instrs = grid, carrying, instrs
        env.agent_pos, env.agent_dir, env.step_count = pose[0], pose[1], 0
        plan = node.plan + path
        if path:
            # The real episode calls the verifier after each move; the last call is the one
            # whose memory (`preCarrying`) the interaction sees, and facing an object may
            # already complete a GoTo.
            status = instrs.verify(path[-1])
            if status == "success":
                yield _Node(grid, carrying, instrs, pose[0], pose[1], plan), True
                continue
            if status == "failure":
                continue
        _, reward, terminated, _, _ = env.step(action)
        plan = [*plan, action]
        after = _Node(env.grid, env.carrying, env.instrs, env.agent_pos, env.agent_dir, plan)
        if terminated:
            if reward > 0:
                yield after, True
            continue  # a failed mission is a dead end
        yield after, False


def _macro_steps(node: _Node):
    """(pose, moves to reach it, interaction) per cell of interest, from the nearest pose facing
    it. Poses are ((x, y), direction); moves are left/right/forward actions."""
    grid = node.grid
    put_next = _mentions_put_next(node.instrs)
    start = (node.pos, node.dir)
    parents: dict = {start: None}
    queue = deque([start])
    seen_cells: set = set()
    drops_far = 0
    while queue:
        pose = queue.popleft()
        (x, y), d = pose
        dx, dy = DIR_TO_VEC[d]
        front = (x + dx, y + dy)
        inside = 0 <= front[0] < grid.width and 0 <= front[1] < grid.height
        cell = grid.get(*front) if inside else None
        if inside and front not in seen_cells:
            seen_cells.add(front)
            actions = _interactions(grid, node.carrying, front, cell)
            if DROP in actions and not (put_next and _next_to_object(grid, front)):
                drops_far += 1
                if drops_far > NEAREST_DROPS:
                    actions = [a for a in actions if a != DROP]
            for action in actions:
                yield pose, _moves(parents, pose), action
        moves = [(LEFT, ((x, y), (d - 1) % 4)), (RIGHT, ((x, y), (d + 1) % 4))]
        if inside and (cell is None or cell.can_overlap()):
            moves.append((FORWARD, (front, d)))
        for action, nxt in moves:
            if nxt not in parents:
                parents[nxt] = (pose, action)
                queue.append(nxt)


def _interactions(grid, carrying, pos, cell) -> list[int]:
    if cell is None:
        return [DROP] if carrying is not None else []
    if cell.type == "wall":
        return []
    actions = []
    if carrying is None and cell.can_pickup():
        actions.append(PICKUP)
    if cell.type in ("door", "box"):
        actions.append(TOGGLE)
    return actions


def _next_to_object(grid, pos) -> bool:
    """Whether a non-wall object is 4-adjacent to `pos` (where PutNext wants a drop)."""
    x, y = pos
    for dx, dy in DIR_TO_VEC:
        cx, cy = x + dx, y + dy
        if 0 <= cx < grid.width and 0 <= cy < grid.height:
            cell = grid.get(cx, cy)
            if cell is not None and cell.type != "wall":
                return True
    return False


def _moves(parents: dict, pose) -> list[int]:
    moves = []
    while parents[pose] is not None:
        pose, action = parents[pose]
        moves.append(action)
    return moves[::-1]


def _key(node: _Node) -> tuple:
    carried = None if node.carrying is None else node.carrying.encode()
    return (node.pos, node.dir, carried, node.grid.encode().tobytes(), _progress(node.instrs))


def _mentions_put_next(instr) -> bool:
    """Whether the mission asks to put something next to something (Put Next, Synth, Boss)."""
    if hasattr(instr, "instr_a"):
        return _mentions_put_next(instr.instr_a) or _mentions_put_next(instr.instr_b)
    return type(instr).__name__ == "PutNextInstr"


def _progress(instr) -> tuple:
    """Where a sequence instruction stands (`a_done`, `b_done` of Before/After/And, recursively)."""
    if not hasattr(instr, "instr_a"):
        return ()
    return (
        getattr(instr, "a_done", None),
        getattr(instr, "b_done", None),
        _progress(instr.instr_a),
        _progress(instr.instr_b),
    )
