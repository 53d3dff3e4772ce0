"""Scores: from a run's raw episodes to normalized scores, statistics, figures and reports.

| module              | concept                                                           |
|---------------------|-------------------------------------------------------------------|
| `reference`         | what a reference is (`Reference`: random and expert returns, the  |
|                     | one normalizability rule); source names, the default chain        |
| `sources`           | the shipped sources: one task's reference in one source           |
|                     | (`get_reference`), the sources that can normalize a task          |
| `project_table`     | the project's reference CSVs (shipped and user-local): read,      |
|                     | recorded                                                          |
| `published`         | published experts of tasks without a demonstrator                 |
| `procgen_constants` | Procgen's published R_min / R_max                                 |
| `expert_rule`       | the paper's expert score: the best windowed mean return           |
| `normalization`     | a chain of sources, or a user's table, resolved per task          |
| `scoring`           | per-task scores of one run, recomputed from its episodes          |
| `tables`            | runs grouped per agent into score tables (runs x tasks)           |
| `stats`             | aggregates, bootstrap intervals, threshold curves                 |
| `plotting`          | figures from numbers                                              |
| `report`            | a run's report: markdown, HTML and summary.json                   |

Layers, bottom up: `reference` (core only) < the source tables (`project_table`, `published`,
`procgen_constants`) < `sources` < `normalization` < `scoring` < `tables` < `report`; `stats`
and `plotting` take numbers only. The reference data files are in `reference_data/`.
"""
