"""WaveNeXt decoder: features -> waveform with a linear head
(Okamoto et al., "WaveNeXt", https://ieeexplore.ieee.org/document/10389765).

Used by the causal FocalCodec-Stream models at 24 kHz: each 20 ms frame is
projected straight to its 480 output samples.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Optional, Tuple

from torch import Tensor, nn

from speechbrain_focalcodec.lobes.causal import Fresh
from speechbrain_focalcodec.lobes.config import records_config
from speechbrain_focalcodec.lobes.convnext import ConvNeXtBackbone
from speechbrain_focalcodec.ops.linear import Linear
from speechbrain_focalcodec.ops.padding import (
    lens_to_counts,
    num_frames_to_lens,
    zero_padding,
)

__all__ = ["WaveNeXt", "WaveNeXtHead"]


class WaveNeXtHead(nn.Module):
    """Projects every frame to ``hop_length`` samples, clamped to [-1, 1].

    Arguments
    ---------
    dim : int
        Input channels.
    hop_length : int
        Samples per frame.

    Example
    -------
    >>> head = WaveNeXtHead(16, hop_length=24)
    >>> head(torch.randn(2, 10, 16)).shape
    torch.Size([2, 240])
    """

    def __init__(self, dim: int, hop_length: int = 480) -> None:
        super().__init__()
        self.proj = Linear(dim, hop_length)

    def forward(self, x: Tensor) -> Tensor:
        """Synthesizes the waveform.

        Arguments
        ---------
        x : torch.Tensor
            Features, shape ``[batch, time, dim]``.

        Returns
        -------
        sig : torch.Tensor
            Shape ``[batch, time * hop_length]``.
        """
        return self.proj(x).flatten(start_dim=1).clamp(min=-1.0, max=1.0)


class WaveNeXt(nn.Module):
    """WaveNeXt decoder: ConvNeXt backbone (zero-padded when causal) and linear head.

    Arguments
    ---------
    input_dim : int
        Channels of the input features.
    num_layers : int
        Number of ConvNeXt blocks.
    dim : int
        Hidden channels.
    ffn_dim : int
        Hidden size of the block MLPs.
    kernel_size : int
        Convolution kernel.
    layerscale_init : float, optional
        Initial layer-scale gain; ``1 / num_layers`` if None.
    hop_length : int
        Output samples per input frame.
    causal : bool
        Causal backbone.

    Example
    -------
    >>> decoder = WaveNeXt(32, num_layers=2, dim=16, ffn_dim=48, hop_length=24, causal=True)
    >>> sig, lens = decoder(torch.randn(2, 10, 32))
    >>> sig.shape
    torch.Size([2, 240])
    """

    @records_config
    def __init__(
        self,
        input_dim: int = 1024,
        num_layers: int = 8,
        dim: int = 1024,
        ffn_dim: int = 2048,
        kernel_size: int = 7,
        layerscale_init: Optional[float] = None,
        hop_length: int = 480,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.causal = causal
        self.upsample_factor = hop_length
        self.backbone = ConvNeXtBackbone(
            input_dim,
            num_layers,
            dim,
            ffn_dim,
            kernel_size,
            layerscale_init,
            causal,
            pad_mode="constant",
        )
        self.head = WaveNeXtHead(dim, hop_length)

    def forward(self, feats: Tensor, lens: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Synthesizes waveforms.

        Arguments
        ---------
        feats : torch.Tensor
            Features, shape ``[batch, time, input_dim]``.
        lens : torch.Tensor, optional
            Relative lengths, shape ``[batch]``.

        Returns
        -------
        sig : torch.Tensor
            Shape ``[batch, time * hop_length]``; zero past each item's end.
        lens : torch.Tensor
            Relative lengths of ``sig`` (unchanged).
        """
        num_frames = lens_to_counts(lens, feats.shape[1])
        sig = self.head(self.backbone(feats, num_frames))
        if num_frames is not None:
            sig = zero_padding(sig, num_frames * self.upsample_factor)
        return sig, num_frames_to_lens(num_frames, feats.shape[1], feats.shape[0], sig.device)

    def context_shapes(self) -> List[Tuple[int, int]]:
        """``(frames, channels)`` of the left contexts of a causal decoder."""
        return self.backbone.context_shapes()

    def step(
        self, feats: Tensor, contexts: Optional[List[Tensor]] = None, fresh: Fresh = False
    ) -> Tuple[Tensor, List[Tensor]]:
        """Synthesizes the frames that follow the given left contexts (causal).

        Arguments
        ---------
        feats : torch.Tensor
            Features, shape ``[batch, time, input_dim]``.
        contexts : list of torch.Tensor, optional
            Left contexts of the backbone's convolutions (see
            ``context_shapes``); None at the start.
        fresh : bool or torch.Tensor
            Streams that start with ``feats`` (see ``causal.left_context``).

        Returns
        -------
        sig : torch.Tensor
            Shape ``[batch, time * hop_length]``.
        contexts : list of torch.Tensor
            Left contexts for the frames that follow.
        """
        h, contexts = self.backbone.step(feats, contexts, fresh)
        return self.head(h), contexts
