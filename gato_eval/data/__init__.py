"""The demonstration store: data sets of recorded episodes on disk, one per task (and noise).

| module      | concept                                                                     |
|-------------|-----------------------------------------------------------------------------|
| `datasets`  | names, where data sets live, what they hold (`DatasetInfo`), listing,       |
|             | verifying and loading episodes back                                         |
| `minari_io` | episodes in Minari's on-disk format (HDF5), lossless and compressed         |

Making data sets (playing a demonstrator) is `gato_eval.collection`; the training corpus built
from them is `gato_eval.corpus`; an episode itself is `gato_eval.core.episode.Episode`.
"""
