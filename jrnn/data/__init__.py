"""Host-side data preparation (NumPy, deterministic with explicit seeds).

- `pad_sequences`, `to_categorical`: Keras's functions, with lengths back and clear errors.
- `Dataset`: tf.data-like pipelines (shuffle, batch, padded_batch,
  bucket_by_sequence_length, ...) that `jrnn.fit` iterates once per epoch.
- `timeseries_dataset_from_array`: Keras's sliding windows over a series, as a Dataset.
- Text: a Keras `Tokenizer` (with `text_to_word_sequence`, `tokenizer_from_json`), the
  next-word n-gram training set `ngram_sequences`, word2vec `skipgrams` with
  `make_sampling_table`.
"""

from jrnn.data._dataset import Dataset
from jrnn.data._padding import pad_sequences, to_categorical
from jrnn.data._text import (
    Tokenizer,
    make_sampling_table,
    ngram_sequences,
    skipgrams,
    text_to_word_sequence,
    tokenizer_from_json,
)
from jrnn.data._timeseries import timeseries_dataset_from_array

__all__ = [
    "Dataset",
    "Tokenizer",
    "make_sampling_table",
    "ngram_sequences",
    "pad_sequences",
    "skipgrams",
    "text_to_word_sequence",
    "timeseries_dataset_from_array",
    "to_categorical",
    "tokenizer_from_json",
]
