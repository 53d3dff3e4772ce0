"""The out-of-distribution fine-tuning ablation (paper Sec. 5.2), one concept per module:

| module        | concept                                                             |
|---------------|---------------------------------------------------------------------|
| `grid`        | the grid: tasks, variants, demonstrations, seeds, settings, cells,  |
|               | runs (pretraining x fine-tuning seeds), the pilot grid              |
| `grid_file`   | reading and checking grid files (presets by name)                   |
| `demos`       | data sets made when missing; nested subsets of the best episodes    |
| `pretrained`  | pretrained variants: trained here or supplied; held-out exclusion   |
| `runner`      | the orchestrator: data, references, the jobs in order, the records  |
| `jobs`        | one job: pretraining a variant; fine-tuning and evaluating a cell   |
| `workers`     | where jobs run: inline, or N at a time in spawned processes         |
| `evaluation`  | one-task suites and resumable evaluation runs                       |
| `store`       | the results directory: record, one row per cell, lock               |
| `records`     | ablation.json and cells.jsonl read back (for scores and tables)     |
| `scores`      | scores recomputed from the runs; curves with bands over runs        |
| `comparison`  | each pretrained variant minus scratch: intervals, P(improvement)    |
| `pilot`       | can scratch learn each held-out task? (the pilot's verdict)         |
| `tables`      | results.csv, comparison.csv and results.md                          |
| `plotting`    | the figure, from numbers                                            |
| `figure`      | the figure of a results directory (`plot ablation`)                 |
| `progress`    | what a front end is told while the grid runs                        |

`runner.run_ablation` runs a grid (`gato-eval finetune-ablation`); `figure.plot_ablation_dir`
draws it (`gato-eval plot ablation`).
"""
