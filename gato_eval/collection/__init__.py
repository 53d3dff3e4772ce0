"""Making data by rollouts: demonstration data sets and measured reference scores.

| module           | concept                                                              |
|------------------|----------------------------------------------------------------------|
| `demonstrations` | a demonstrator's episodes collected into a data set, resumably       |
|                  | (`gato-eval data collect`)                                           |
| `references`     | a task's random and expert returns measured and recorded in a        |
|                  | reference table (`gato-eval data reference`)                         |

The data sets themselves (reading, listing, verifying) are `gato_eval.data`; what a reference
score is and how scores use it are `gato_eval.scores`.
"""
