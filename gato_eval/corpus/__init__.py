"""The training corpus: what a model trains on, cut into context-length token rows.

| module            | concept                                                              |
|-------------------|----------------------------------------------------------------------|
| `mixtures`        | training mixtures as data: which sources, sampled how often          |
| `token_stream`    | `TokenStream`: one episode or document stream, tokenized once        |
| `sequences`       | packing rows (B, T) from pre-tokenized episodes and documents        |
| `text`            | the no-control text corpus, built offline                            |
| `procedural_text` | procedural prose: sentences from a small grammar                     |
| `captions`        | the image-caption set: generated scenes of shapes with true captions |

The demonstrations themselves are read from `gato_eval.data`; the training loop that consumes
these rows is `gato_eval.training`.
"""
