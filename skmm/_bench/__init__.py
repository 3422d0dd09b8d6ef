"""skmm's benchmarks, shipped with the package: ``python -m skmm bench`` runs them anywhere.

Each module is one benchmark with a ``run(session)`` function (see :mod:`._harness` for the
measurement discipline they share):

==============  ========  ===================================================================
name            kind      what it compares
==============  ========  ===================================================================
audio           time      AudioLogMel / AudioMFCC against a per-clip librosa loop (FSDD)
head            time      FusionNetClassifier.fit against a hand-written PyTorch loop
image           time      ImageEmbedder / ImageColorHistogram against hand-written loops
search          time      GridSearchCV over extractors with and without the feature cache
text            accuracy  gensim and sentence-embedding extractors against TF-IDF (AG News)
fusion          accuracy  the fusion levels and operators on AV-Digits (hard)
audio_embedder  accuracy  AudioEmbedder against AudioMFCC, speaker-held-out folds (FSDD)
balance         accuracy  balanced training (``balance=``) against the plain baselines
==============  ========  ===================================================================

The ``benchmarks/bench_*.py`` scripts of the repository are thin wrappers of these.
"""

from ._cli import BENCHMARKS, PARSER_KWARGS, add_arguments, default_results_dir, main, run

__all__ = ["BENCHMARKS", "PARSER_KWARGS", "add_arguments", "default_results_dir", "main", "run"]
