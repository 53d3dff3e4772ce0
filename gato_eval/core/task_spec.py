"""What a task is: a file-safe id mapped to a real environment, with every setting recorded.

The observation contract (../DESIGN.md) every family module honours: `make_env(spec)` returns a
`gymnasium.Env` whose observation space is a `gymnasium.spaces.Dict` with a subset of these keys:

| key          | space                              | per-env value                         |
|--------------|------------------------------------|---------------------------------------|
| `text`       | `spaces.Text`                      | `str` (BabyAI mission)                |
| `image`      | `Box(0, 255, (H, W, 3), uint8)`    | H and W multiples of 16               |
| `discrete`   | `Box(0, 1023, (n,), int64)`        | flattened row-major                   |
| `continuous` | `Box(-inf, inf, (m,), float32)`    | flattened row-major, keys sorted      |

and an action space that is either `Discrete(n)` or a `Box` of shape `(a,)`. Rewards are raw (no
clipping); `info["success"]` is a bool at every step for families where success is defined.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

FAMILIES = ("atari", "dmc", "metaworld", "babyai", "procgen")
OBSERVATION_KEYS = ("text", "image", "discrete", "continuous")


@dataclass(frozen=True)
class TaskSpec:
    """One evaluation task.

    `task_id` is file-safe (`family-name`, e.g. `dmc-cartpole-swingup`); `env_id` is the real
    environment's id in its own library (`ALE/Boxing-v5`, `cartpole/swingup`, `assembly-v3`,
    `BabyAI-GoToLocal-v0`). `options` holds every wrapper setting that changes what the agent sees
    or how it is scored (frame skip, sticky actions, image size, ...), so a run records them.
    `max_episode_steps` is where the env truncates (a suite may cap it below the family's limit).
    `action_space` describes the env's action space without building the env (`"Discrete(18)"`,
    `"Box(-1.0, 1.0, (6,), float32)"`), for listings; the env's own space is authoritative.
    """

    task_id: str
    family: str
    env_id: str
    max_episode_steps: int
    has_success: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    action_space: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (recorded in run metadata and data set metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        """The inverse of `to_dict`; keys that are not fields (e.g. `env_versions` stored beside a
        spec in run metadata) are ignored, so records from newer or older versions still load."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})
