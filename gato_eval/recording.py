"""What the rollout engine keeps of each episode: its result, its trajectory, its video frames.

- `EpisodeResult`: one finished or failed episode (the run directory's record, `to_record`);
- `TrajectoryRecorder`: the per-step buffers that become an `Episode` (demonstration data);
- `FrameRecorder` and `write_video`: RGB frames of an episode and the mp4 made from them;
- `stack_observations`: per-env observation dicts -> the batched contract of `policies.base`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.core.episode import Episode
from gato_eval.core.policy import BatchedObservation

DEFAULT_VIDEO_FPS = 30


@dataclass
class EpisodeResult:
    """One finished (or failed) episode.

    `trajectory` is set when trajectories were recorded; `frames` holds uint8 (T + 1, H, W, 3)
    frames when the episode was chosen for video (None otherwise, and when the env cannot render).
    """

    task_id: str
    episode: int
    seed: int
    episode_return: float
    length: int
    success: bool | None
    status: str = "ok"
    error: str | None = None
    wall_s: float = 0.0
    slot: int = 0
    trajectory: Episode | None = None
    frames: np.ndarray | None = None
    frames_per_second: float | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_record(self) -> dict[str, Any]:
        """The run directory's episode record (format in `gato_eval.run.directory`)."""
        return {
            "task": self.task_id,
            "episode": self.episode,
            "seed": self.seed,
            "return": self.episode_return,
            "length": self.length,
            "success": self.success,
            "status": self.status,
            "error": self.error,
            "wall_s": round(self.wall_s, 4),
        }


def stack_observations(observations: Sequence[dict]) -> BatchedObservation:
    """Stack per-env observation dicts into one batch (the contract of `policies.base`).

    `text` becomes a list of B strings; every other key an array with a leading axis of B.
    """
    batch: BatchedObservation = {}
    for key in observations[0]:
        values = [observation[key] for observation in observations]
        batch[key] = list(values) if key == "text" else np.stack(values)
    return batch


@dataclass
class TrajectoryRecorder:
    """The steps of one episode as they happen; `build` turns them into an `Episode`.

    Arrays are copied on the way in: some envs hand out the same buffer at every step.
    """

    observations: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    terminations: list = field(default_factory=list)
    truncations: list = field(default_factory=list)

    def add_observation(self, observation: dict) -> None:
        self.observations.append(
            {k: v if isinstance(v, str) else np.array(v, copy=True) for k, v in observation.items()}
        )

    def add_step(self, action, label, reward: float, terminated: bool, truncated: bool) -> None:
        """The action executed, its label (None = the executed action) and what followed."""
        self.actions.append(np.copy(action))
        self.labels.append(self.actions[-1] if label is None else np.copy(label))
        self.rewards.append(reward)
        self.terminations.append(bool(terminated))
        self.truncations.append(bool(truncated))

    def build(self, task_id: str, seed: int, success: bool | None) -> Episode:
        """The Episode: labels as its actions, executed actions in extras where they differ."""
        executed = np.asarray(self.actions)
        labels = np.asarray(self.labels)
        extras = {} if np.array_equal(labels, executed) else {"executed_actions": executed}
        return Episode(
            task_id=task_id,
            observations=stack_observations(self.observations),
            actions=labels,
            rewards=np.asarray(self.rewards, dtype=np.float32),
            terminations=np.asarray(self.terminations, dtype=bool),
            truncations=np.asarray(self.truncations, dtype=bool),
            seed=seed,
            success=success,
            extras=extras,
        )


class FrameRecorder:
    """RGB frames of one episode: the env's `rgb_array` render, else its `image` observation.

    If the env can show neither, recording stops and `frames()` is None.
    """

    def __init__(self) -> None:
        self._frames: list[np.ndarray] | None = []

    def capture(self, env: Any, observation: dict | None) -> None:
        if self._frames is None:
            return
        frame = render_frame(env, observation)
        if frame is None:
            self._frames = None
        else:
            self._frames.append(frame)

    def frames(self) -> np.ndarray | None:
        """uint8 (T + 1, H, W, 3), or None."""
        return np.stack(self._frames) if self._frames else None


def render_frame(env: Any, observation: dict | None) -> np.ndarray | None:
    """An RGB frame uint8 (H, W, 3) of the env now: its `rgb_array` render if it has one, else
    the observation's `image`; None when neither exists."""
    if getattr(env, "render_mode", None) == "rgb_array":
        frame = env.render()
        if frame is not None:
            return np.asarray(frame, dtype=np.uint8)
    if observation is not None and "image" in observation:
        return np.asarray(observation["image"], dtype=np.uint8)
    return None


def render_fps(env: Any) -> float | None:
    """The env's declared `metadata["render_fps"]`, if it has a usable one."""
    fps = (getattr(env, "metadata", None) or {}).get("render_fps")
    return float(fps) if isinstance(fps, int | float) and fps > 0 else None


def write_video(path: Path, frames: np.ndarray, fps: float | None = None) -> None:
    """An H.264 mp4 of frames uint8 (T, H, W, 3) through imageio-ffmpeg."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    # yuv420p needs even sides: drop a last row/column rather than rescale the picture.
    height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    with imageio.get_writer(
        path,
        fps=fps or DEFAULT_VIDEO_FPS,
        codec="libx264",
        macro_block_size=1,  # 16 would resize frames; even sides are enough for libx264
        ffmpeg_log_level="error",
    ) as video:
        for frame in frames[:, :height, :width]:
            video.append_data(frame)
