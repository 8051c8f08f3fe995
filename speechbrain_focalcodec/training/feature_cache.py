"""Features of the frozen encoder, computed once per utterance.

The encoder never changes during training, so on datasets that fit in memory
its features can be kept after the first epoch (``cache_features: True``;
about 7 GB per 10 hours of speech at 50 Hz x 1024 float32 values). Thanks to
the exact batching of the encoder (a padded item gets exactly what it gets
alone), batches assembled from the cache equal those computed afresh.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Dict, List, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from speechbrain_focalcodec.ops.padding import lens_to_counts

__all__ = ["CachedEncoder"]


class CachedEncoder:
    """Wraps a frozen encoder; remembers the features of every utterance it encodes.

    Arguments
    ---------
    encoder : torch.nn.Module
        Frozen encoder: ``encoder(sig, lens) -> (feats, feats_lens)``.

    Example
    -------
    >>> from speechbrain_focalcodec.lobes import WavLM
    >>> wavlm = WavLM([8] * 7, num_layers=1, dim=16, ffn_dim=32, num_heads=2, conv_pos=4,
    ...               conv_pos_groups=2).eval()
    >>> encoder = CachedEncoder(wavlm)
    >>> sig, lens = torch.randn(2, 8000), torch.tensor([1.0, 0.5])
    >>> feats, feats_lens = encoder(["a", "b"], sig, lens)
    >>> expected, expected_lens = wavlm(sig, lens)
    >>> torch.allclose(feats, expected, atol=1e-5), torch.equal(feats_lens, expected_lens)
    (True, True)
    >>> sorted(encoder.cache), encoder(["b"], sig[1:, :4000], None)[0].shape
    (['a', 'b'], torch.Size([1, 12, 16]))
    """

    def __init__(self, encoder: nn.Module) -> None:
        self.encoder = encoder
        self.cache: Dict[str, Tensor] = {}

    @torch.no_grad()
    def __call__(self, ids: List[str], sig: Tensor, lens: Tensor) -> Tuple[Tensor, Tensor]:
        """Features of a batch, from the cache where possible.

        Arguments
        ---------
        ids : list of str
            Utterance ids (the cache keys).
        sig : torch.Tensor
            Waveforms, ``[batch, samples]``.
        lens : torch.Tensor, optional
            Relative lengths.

        Returns
        -------
        feats : torch.Tensor
            ``[batch, frames, dim]``, zero past each item's frames.
        feats_lens : torch.Tensor
            Their relative lengths.
        """
        missing = [index for index, utt_id in enumerate(ids) if utt_id not in self.cache]
        if missing:
            counts = lens_to_counts(lens, sig.shape[1])
            if counts is None:
                counts = torch.full((sig.shape[0],), sig.shape[1], device=sig.device)
            counts = counts[missing]
            longest = int(counts.max())
            feats, feats_lens = self.encoder(sig[missing, :longest], counts.float() / longest)
            frames = lens_to_counts(feats_lens, feats.shape[1]).tolist()
            for row, index in enumerate(missing):
                self.cache[ids[index]] = feats[row, : frames[row]].float().cpu()
        items = [self.cache[utt_id].to(sig.device) for utt_id in ids]
        frames = torch.tensor([item.shape[0] for item in items], device=sig.device)
        feats = pad_sequence(items, batch_first=True)
        return feats, frames.float() / feats.shape[1]
