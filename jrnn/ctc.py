"""Connectionist temporal classification: loss and decoders; see `jrnn.decoding`, where
they live.

  loss = jrnn.ctc.ctc_loss(logits, labels, logit_lengths, label_lengths)
  decoded, lengths, log_probs = jrnn.ctc.ctc_beam_search_decode(logits, logit_lengths)
"""

from jrnn.decoding import ctc_beam_search_decode, ctc_greedy_decode, ctc_loss

__all__ = ["ctc_beam_search_decode", "ctc_greedy_decode", "ctc_loss"]
