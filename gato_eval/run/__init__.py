"""A run's record: what was asked (settings), what was recorded (directory + metadata), resume.

| module      | concept                                                                      |
|-------------|------------------------------------------------------------------------------|
| `settings`  | `RunSettings` (suite, policy, episodes, seed, envs, ...): what `run suite`   |
|             | plays, typed and checked once where it is built                              |
| `metadata`  | `RunMetadata`: a run's metadata.json, checked whole where it is read         |
| `directory` | the run directory: metadata.json, episodes.jsonl (one record per episode),   |
|             | creating, loading and resuming a run                                         |
| `identity`  | what makes a resumed run the same run (`run suite --resume`)                 |

Playing the episodes is `gato_eval.evaluate` and `gato_eval.rollout`; scoring a recorded run is
`gato_eval.scores`.
"""
