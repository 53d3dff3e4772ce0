"""Plug-in policies that break the real simulators they are given, to test faulty environments.

`gato-eval run suite --model env_faults:SabotagingAgent` plays uniformly random actions and, for
the episodes named in the environment variable GATO_EVAL_FAULTS, puts the live simulator of that
episode's slot (`envs[i].unwrapped`, which the Policy contract hands to `start`) into a state in
which the simulator's own code fails:

| fault        | done to the real simulator               | what then fails, in real code        |
|--------------|------------------------------------------|--------------------------------------|
| `physics`    | dm_control: joint velocities set to 1e30 | next `step`: MuJoCo warns BADQVEL,   |
|              |                                          | dm_control raises PhysicsError       |
| `emulator`   | ALE: a game mode Pong does not have      | next seeded `reset`: ALE raises      |
|              |                                          | "Invalid game mode requested"        |
| `hang-step`  | ALE: frame skip set to 10**12            | next `step` emulates forever         |
| `hang-reset` | BabyAI: a million distractors, one room  | next `reset` retries its level       |
|              |                                          | generator forever                    |

Faults at `reset` are planted while the previous episode of the same slot starts: in a fresh run
with K slots, slot j plays episodes j, j+K, j+2K, ... (the engine's fixed quotas), so the fault
of episode k is planted at the start of episode k-K (k >= K). The engine throws a failed env
away and makes a fresh one, so each fault hits exactly one episode; do not plan a reset fault
right after a step fault in the same slot (the fresh env would not carry it).

GATO_EVAL_FAULTS is JSON: {"task id": {"episode index": "fault"}}; the run seed (default 0)
comes from GATO_EVAL_FAULTS_SEED. Nothing here replaces any part of gato-eval: the engine, the
run directory and the CLI are the real ones.
"""

from __future__ import annotations

import json
import os

import numpy as np

RESET_FAULTS = ("emulator", "hang-reset")


def planned_faults() -> dict[str, dict[int, str]]:
    """{task id: {episode index: fault}} from GATO_EVAL_FAULTS."""
    raw = json.loads(os.environ.get("GATO_EVAL_FAULTS", "{}"))
    return {task: {int(k): v for k, v in plan.items()} for task, plan in raw.items()}


def sabotage(env, fault: str) -> None:
    """Put the real simulator behind `env` into the state named by `fault` (module table)."""
    simulator = env.unwrapped
    if fault == "physics":
        simulator.physics.data.qvel[:] = 1e30
    elif fault == "emulator":
        simulator._game_mode = 99  # AtariEnv passes it to ALE's setMode at the next seeded reset
    elif fault == "hang-step":
        simulator._frameskip = 10**12  # AtariEnv.step loops over ale.act this many times
    elif fault == "hang-reset":
        simulator.num_dists = 10**6  # more objects than cells: place_obj never succeeds
    else:
        raise ValueError(f"unknown fault {fault!r}")


class SabotagingAgent:
    """Random actions; breaks the simulator for the planned episodes (see the module docstring)."""

    def __init__(self):
        from gato_eval.rollout import episode_seed

        self.plan = planned_faults()
        self.run_seed = int(os.environ.get("GATO_EVAL_FAULTS_SEED", "0"))
        self._episode_seed = episode_seed

    def describe(self) -> dict:
        return {"faults": {task: dict(plan) for task, plan in self.plan.items()}}

    def start(self, task, envs) -> None:
        self.envs = envs  # the engine's live slot list: a re-made env replaces its item
        self.space = envs[0].action_space
        self.rngs: dict[int, np.random.Generator] = {}
        # seed of the episode whose start plants a fault -> faults to plant then
        self.plant: dict[int, list[str]] = {}
        slots = len(envs)
        for episode, fault in self.plan.get(task.task_id, {}).items():
            if fault in RESET_FAULTS and episode < slots:
                raise ValueError("a reset fault needs an episode before it in its slot")
            when = episode - slots if fault in RESET_FAULTS else episode
            seed = self._episode_seed(self.run_seed, task.task_id, when)
            self.plant.setdefault(seed, []).append(fault)

    def reset(self, env_index: int, seed: int) -> None:
        self.rngs[env_index] = np.random.default_rng(seed)
        for fault in self.plant.get(seed, []):
            sabotage(self.envs[env_index], fault)

    def act(self, observations, env_indices) -> np.ndarray:
        if hasattr(self.space, "n"):
            return np.array(
                [self.rngs[int(i)].integers(self.space.n) for i in env_indices], dtype=np.int64
            )
        low, high = self.space.low, self.space.high
        return np.stack(
            [self.rngs[int(i)].uniform(low, high).astype(np.float32) for i in env_indices]
        )

    def close(self) -> None:
        pass


# -- the end-to-end check (tests and the slow reliability report) ----------------------------

FAULTY_SUITE = {
    "name": "faulty",
    "version": 1,
    "episodes": 4,
    "tasks": ["atari-pong", "babyai-go-to-red-ball", "dmc-cartpole-balance"],
    "max_episode_steps": {"atari": 30, "dmc": 30},
}
FAULTS = {
    "atari-pong": {"2": "emulator", "3": "hang-step"},
    "babyai-go-to-red-ball": {"3": "hang-reset"},
    "dmc-cartpole-balance": {"1": "physics"},
}
EXPECTED_ERRORS = {
    ("atari-pong", 2): "reset failed: RuntimeError: Invalid game mode requested",
    ("atari-pong", 3): "step 1 failed: StepTimeoutError",
    ("babyai-go-to-red-ball", 3): "reset failed: StepTimeoutError",
    ("dmc-cartpole-balance", 1): "step 1 failed: PhysicsError",
}
STEP_TIMEOUT = "1.5"  # healthy resets and steps here take milliseconds


def episode_results(run_dir) -> dict:
    """{(task, episode): record without its timing} of a run directory."""
    from gato_eval.run.directory import load_run

    return {
        (r["task"], r["episode"]): {k: v for k, v in r.items() if k != "wall_s"}
        for r in load_run(run_dir).episodes
    }


def check_faulty_run(run_cli, workdir) -> dict:
    """Run FAULTY_SUITE clean (1 env) and with FAULTS (2 envs) through `run_cli(*argv)`, and
    check every promise (see tests/reliability/test_faulty_envs.py); returns the figures."""
    from gato_eval.scores.scoring import summarize_run

    workdir.mkdir(parents=True, exist_ok=True)
    suite = workdir / "faulty.json"
    suite.write_text(json.dumps(FAULTY_SUITE))
    saved_cwd, saved = os.getcwd(), os.environ.get("GATO_EVAL_FAULTS")
    os.chdir(workdir)  # simulators that log (MUJOCO_LOG.TXT) write here
    try:
        outcomes = {}
        for name, envs, faults in (("clean", 1, {}), ("faulty", 2, FAULTS)):
            os.environ["GATO_EVAL_FAULTS"] = json.dumps(faults)
            outcomes[name] = run_cli(
                "run", "suite", suite, "--model", "env_faults:SabotagingAgent", "--envs", envs,
                "--step-timeout", STEP_TIMEOUT, "--out", workdir / name,
            )  # fmt: skip
        resumed = run_cli("run", "suite", "--resume", "--out", workdir / "faulty")
    finally:
        os.chdir(saved_cwd)
        if saved is None:
            os.environ.pop("GATO_EVAL_FAULTS", None)
        else:
            os.environ["GATO_EVAL_FAULTS"] = saved
    clean, faulty = outcomes["clean"], outcomes["faulty"]
    assert clean.exit_code == 0, clean.stderr
    assert faulty.exit_code == 3, faulty.stderr
    assert faulty.stderr.splitlines()[-1].startswith("error: 4 of 12 episodes failed")
    assert "Traceback" not in faulty.stderr
    got, reference = episode_results(workdir / "faulty"), episode_results(workdir / "clean")
    assert set(got) == set(reference)
    failed = {key: r["error"] for key, r in got.items() if r["status"] == "failed"}
    assert set(failed) == set(EXPECTED_ERRORS)
    for key, message in EXPECTED_ERRORS.items():
        assert failed[key].startswith(message), (key, failed[key])
    # The faults cost exactly their own episodes: every other one is what it is without them,
    # although the failed episodes' slots were re-made mid-task.
    unchanged = [key for key in set(got) - set(failed) if got[key] == reference[key]]
    assert len(unchanged) == len(got) - len(failed)
    rows = {row.task: row for row in summarize_run(workdir / "faulty", "project")}
    counted = {task: row.failed for task, row in rows.items()}
    assert counted == {"atari-pong": 2, "babyai-go-to-red-ball": 1, "dmc-cartpole-balance": 1}
    # Failed episodes are final: resuming plays nothing, repeats nothing, still exits 3.
    assert resumed.exit_code == 3
    assert episode_results(workdir / "faulty") == got
    return {
        "faults_injected": len(EXPECTED_ERRORS),
        "failures_recorded": len(failed),
        "other_episodes_unchanged": len(unchanged),
        "episodes": len(got),
        "exit_code": faulty.exit_code,
        "errors": {f"{task} #{episode}": failed[(task, episode)] for task, episode in failed},
    }
