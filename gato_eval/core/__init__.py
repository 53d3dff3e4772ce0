"""The ground floor: contracts every layer shares; imports nothing of gato_eval above it.

| module       | concept                                                                   |
|--------------|---------------------------------------------------------------------------|
| `errors`     | `GatoEvalError`: the one exception users see (one line, an exit code)     |
| `task_spec`  | `TaskSpec`: what a task is (file-safe id -> real env, every setting)      |
| `policy`     | `Policy`: the batched policy contract (observations (N, ...) -> actions)  |
| `episode`    | `Episode`: one recorded episode, the unit every data consumer works with  |
| `durable`    | atomic file replace, crash-safe JSON lines, file hashes                   |
| `locks`      | one writer per run, data set or training output                           |
| `paths`      | where gato-eval keeps what it makes ($GATO_EVAL_HOME), the bundled files  |
| `provenance` | which code produced a result (git revision, package versions, Python)     |

The import contracts (pyproject.toml [tool.importlinter]) keep this package at the bottom.
"""
