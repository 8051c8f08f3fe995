"""WaveNeXt decoder: features -> waveform with a linear head
(Okamoto et al., "WaveNeXt", https://ieeexplore.ieee.org/document/10389765).

Used by the causal FocalCodec-Stream models at 24 kHz: each 20 ms frame is
projected straight to its 480 output samples.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional

from torch import Tensor, nn

from speechbrain_focalcodec.lobes.config import records_config
from speechbrain_focalcodec.lobes.convnext import ConvNeXtBackbone, ConvNeXtDecoder
from speechbrain_focalcodec.ops.linear import Linear

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


class WaveNeXt(ConvNeXtDecoder):
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
