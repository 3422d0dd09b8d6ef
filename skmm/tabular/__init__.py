"""Tables' own columns (numbers, categories) as a modality beside images, texts and audio.

:class:`TabularEncoder` turns numeric and categorical columns into one float32 block:
standardised numbers, one-hot flags for categorical columns with few categories, and
integer codes for those with many, which the layer-level net embeds (the ``"tabular"``
branch). ``make_modality_union`` also takes ``"passthrough"`` or any scikit-learn
transformer for such columns.
"""

from ._encoder import TabularEncoder

__all__ = ["TabularEncoder"]
