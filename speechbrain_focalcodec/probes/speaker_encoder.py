"""Frozen speaker encoder (x-vectors of a Hugging Face audio model).

The FocalCodec papers prompt their text-to-speech probe with the WavLM-base-sv
speaker embedding of the target speaker (and score speaker similarity with
the same model).

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.ops.padding import lens_to_counts

__all__ = ["XVectorEncoder"]


class XVectorEncoder(nn.Module):
    """Speaker embeddings of 16 kHz waveforms, frozen.

    Arguments
    ---------
    source : str, optional
        Hugging Face model with an x-vector head (``AutoModelForAudioXVector``).
    config : dict, optional
        Instead of ``source``: a ``transformers.WavLMConfig`` as a dict, to build
        a randomly initialised encoder (debug runs, tests).

    Example
    -------
    >>> encoder = XVectorEncoder(config={
    ...     "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
    ...     "intermediate_size": 32, "conv_dim": [16, 16], "conv_stride": [5, 4],
    ...     "conv_kernel": [10, 4], "num_conv_pos_embeddings": 16,
    ...     "num_conv_pos_embedding_groups": 4, "tdnn_dim": [16, 16],
    ...     "tdnn_kernel": [3, 1], "tdnn_dilation": [1, 1], "xvector_output_dim": 8})
    >>> embs, _ = encoder(torch.randn(2, 8000), torch.tensor([1.0, 0.5]))
    >>> embs.shape, encoder.embedding_dim
    (torch.Size([2, 8]), 8)
    """

    def __init__(
        self,
        source: Optional[str] = "microsoft/wavlm-base-sv",
        config: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        try:
            from transformers import AutoModelForAudioXVector, WavLMConfig, WavLMForXVector
        except ImportError:
            raise ImportError("XVectorEncoder needs `pip install transformers`") from None
        if config is not None:
            self.model = WavLMForXVector(WavLMConfig(**config))
        elif source is not None:
            self.model = AutoModelForAudioXVector.from_pretrained(source)
        else:
            raise ValueError("Give `source` or `config`")
        self.model.eval().requires_grad_(False)
        self.embedding_dim = self.model.config.xvector_output_dim

    def train(self, mode: bool = True) -> "XVectorEncoder":
        """Keeps the encoder in eval mode: it is frozen."""
        super().train(mode)
        self.model.eval()
        return self

    @torch.no_grad()
    def forward(
        self, sig: Tensor, lens: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Embeds each waveform of a padded batch (its valid samples only).

        Arguments
        ---------
        sig : torch.Tensor
            ``[B, samples]`` at 16 kHz.
        lens : torch.Tensor, optional
            Relative lengths.

        Returns
        -------
        embs : torch.Tensor
            ``[B, embedding_dim]``.
        lens : None
            Utterance-level output.
        """
        counts = (
            [sig.shape[1]] * sig.shape[0] if lens is None else lens_to_counts(lens, sig.shape[1])
        )
        embs = []
        for item, count in zip(sig, counts):
            item = item[: max(int(count), 4000)]  # the x-vector head needs a few frames
            item = (
                nn.functional.pad(item, [0, 4000 - item.shape[0]]) if item.shape[0] < 4000 else item
            )
            embs.append(self.model(input_values=item[None]).embeddings[0])
        return torch.stack(embs), None
