"""Focal compressor: WavLM features -> low-dimensional latents.

A stack of (down-scaling convolution + Snake, focal block) layers followed by a
linear projection to the code dimension. Strided layers lower the frame rate
(50 Hz -> 25 Hz -> 12.5 Hz).

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
from typing import Any, Optional, Sequence, Tuple

from torch import Tensor, nn

from speechbrain_focalcodec.lobes.activations import Snake1d
from speechbrain_focalcodec.lobes.causal import (
    CausalConvolution,
)
from speechbrain_focalcodec.lobes.config import records_config
from speechbrain_focalcodec.lobes.focal_modulation import FocalBlock
from speechbrain_focalcodec.ops.frame_conv import strided_conv
from speechbrain_focalcodec.ops.linear import Linear
from speechbrain_focalcodec.ops.padding import (
    lens_to_counts,
    num_frames_to_lens,
    zero_padding,
)

__all__ = ["DownScale", "FocalCompressor", "FocalDownScale"]


class DownScale(CausalConvolution):
    """Strided convolution followed by a Snake activation.

    Offline, the sequence is right-padded with ``(time - kernel) % stride``
    zeros (at least up to the kernel size); causal layers left-pad with the
    first frame instead.

    Arguments
    ---------
    input_dim : int
        Input channels.
    output_dim : int
        Output channels.
    kernel_size : int
        Convolution kernel.
    stride : int
        Convolution stride (the down-scaling factor).
    causal : bool
        Causal padding.

    Example
    -------
    >>> layer = DownScale(8, 4, kernel_size=2, stride=2)
    >>> layer(torch.randn(1, 9, 8)).shape
    torch.Size([1, 5, 4])
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        kernel_size: int = 1,
        stride: int = 1,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.causal = causal
        self.downscale = nn.Conv1d(input_dim, output_dim, kernel_size, stride)
        self.context_channels = input_dim
        self.activation = Snake1d(output_dim)

    def num_output_frames(self, num_frames: Tensor) -> Tensor:
        """Output frames that a sequence of ``num_frames`` frames gives alone.

        Arguments
        ---------
        num_frames : torch.Tensor
            Input frame counts.

        Returns
        -------
        num_frames : torch.Tensor
            Output frame counts.
        """
        if self.causal:
            return (num_frames - 1) // self.stride + 1
        padded = num_frames + (num_frames - self.kernel_size) % self.stride
        padded = padded.clamp(min=self.kernel_size)
        return (padded - self.kernel_size) // self.stride + 1

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Down-scales the sequence.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, input_dim]``.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Shape ``[batch, time', output_dim]``.
        """
        # Channels-last throughout (see frame_conv.py).
        if self.causal:
            return self.step(x)[0]
        x = zero_padding(x, num_frames)
        pad = (x.shape[1] - self.kernel_size) % self.stride
        # Sequences shorter than the kernel still give one frame.
        pad = max(pad, self.kernel_size - x.shape[1])
        return self._convolve(nn.functional.pad(x, [0, 0, 0, pad]))

    def _convolve(self, x: Tensor) -> Tensor:
        conv = self.downscale
        return self.activation(strided_conv(x, conv.weight, self.stride, conv.bias))


class FocalDownScale(nn.Module):
    """One compressor layer: ``DownScale`` then a ``FocalBlock``.

    Arguments
    ---------
    input_dim : int
        Input channels.
    output_dim : int
        Output channels (the focal block works at this width, with a 4x wider
        feed-forward).
    downscale_factor : int
        Kernel and stride of the down-scaling convolution.
    **focal_kwargs : dict
        Keyword arguments of ``FocalBlock`` (focal_window, focal_level, ...).

    Example
    -------
    >>> layer = FocalDownScale(16, 8, downscale_factor=2, focal_window=3)
    >>> layer(torch.randn(2, 10, 16)).shape
    torch.Size([2, 5, 8])
    """

    def __init__(
        self, input_dim: int, output_dim: int, downscale_factor: int = 1, **focal_kwargs: Any
    ) -> None:
        super().__init__()
        causal = focal_kwargs.get("causal", False)
        self.downscale = DownScale(
            input_dim, output_dim, downscale_factor, downscale_factor, causal
        )
        self.focal_block = FocalBlock(output_dim, 4 * output_dim, **focal_kwargs)

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Applies the layer.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, input_dim]``.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Shape ``[batch, time', output_dim]``.
        """
        x = self.downscale(x, num_frames)
        if num_frames is not None:
            num_frames = self.downscale.num_output_frames(num_frames)
        return self.focal_block(x, num_frames)


class FocalCompressor(nn.Module):
    """Focal compressor (named ``FocalEncoder`` in official checkpoints).

    Arguments
    ---------
    input_dim : int
        Channels of the encoder features.
    output_dim : int
        Latent (code) dimension, log2 of the codebook size.
    hidden_dims : sequence of int
        Width of each layer.
    downscale_factors : sequence of int
        Down-scaling factor of each layer.
    focal_window : int
        See ``FocalModulation``.
    focal_level : int
        See ``FocalModulation``.
    focal_factor : int
        See ``FocalModulation``.
    dropout : float
        Dropout in the focal blocks and before the output projection.
    use_post_norm : bool
        See ``FocalBlock``.
    use_layerscale : bool
        See ``FocalBlock``.
    layerscale_init : float
        See ``FocalBlock``.
    tanhscale_init : float
        See ``FocalBlock``.
    normalize_modulator : bool
        See ``FocalModulation``.
    causal : bool
        Causal layers (FocalCodec-Stream).
    window_size : int
        Causal global context window of every layer.

    Example
    -------
    >>> compressor = FocalCompressor(
    ...     32, 8, hidden_dims=[24, 16], downscale_factors=[2, 1], focal_window=3
    ... )
    >>> lats, lens = compressor(torch.randn(2, 9, 32), torch.tensor([1.0, 0.5]))
    >>> lats.shape, lens
    (torch.Size([2, 5, 8]), tensor([1.0000, 0.4000]))
    """

    @records_config
    def __init__(
        self,
        input_dim: int = 1024,
        output_dim: int = 12,
        hidden_dims: Sequence[int] = (1024, 1024, 1024),
        downscale_factors: Sequence[int] = (1, 1, 1),
        focal_window: int = 14,
        focal_level: int = 2,
        focal_factor: int = 4,
        dropout: float = 0.0,
        use_post_norm: bool = False,
        use_layerscale: bool = False,
        layerscale_init: float = 1e-4,
        tanhscale_init: float = 0.5,
        normalize_modulator: bool = False,
        causal: bool = False,
        window_size: int = 512,
    ) -> None:
        super().__init__()
        if len(hidden_dims) != len(downscale_factors):
            raise ValueError(
                "`hidden_dims` and `downscale_factors` must have the same length, got "
                f"{len(hidden_dims)} and {len(downscale_factors)}"
            )
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.causal = causal
        self.downsample_factor = math.prod(downscale_factors)
        self.layers = nn.ModuleList()
        for hidden_dim, factor in zip(hidden_dims, downscale_factors):
            self.layers.append(
                FocalDownScale(
                    input_dim,
                    hidden_dim,
                    factor,
                    focal_window=focal_window,
                    focal_level=focal_level,
                    focal_factor=focal_factor,
                    dropout=dropout,
                    use_post_norm=use_post_norm,
                    use_layerscale=use_layerscale,
                    layerscale_init=layerscale_init,
                    tanhscale_init=tanhscale_init,
                    normalize_modulator=normalize_modulator,
                    causal=causal,
                    window_size=window_size,
                )
            )
            input_dim = hidden_dim
        self.dropout = nn.Dropout(dropout)
        self.out_proj = Linear(input_dim, output_dim)

    def num_output_frames(self, num_frames: Tensor) -> Tensor:
        """Latent frames that ``num_frames`` feature frames give alone.

        Arguments
        ---------
        num_frames : torch.Tensor
            Input frame counts.

        Returns
        -------
        num_frames : torch.Tensor
            Output frame counts.
        """
        for layer in self.layers:
            num_frames = layer.downscale.num_output_frames(num_frames)
        return num_frames

    def forward(self, feats: Tensor, lens: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Compresses encoder features into (unnormalized) latents.

        Arguments
        ---------
        feats : torch.Tensor
            Encoder features, shape ``[batch, time, input_dim]``.
        lens : torch.Tensor, optional
            Relative lengths, shape ``[batch]``.

        Returns
        -------
        lats : torch.Tensor
            Shape ``[batch, time / downsample_factor, output_dim]``; zero on
            padded frames.
        lens : torch.Tensor
            Relative lengths of ``lats``.
        """
        num_frames = lens_to_counts(lens, feats.shape[1])
        x = feats
        for layer in self.layers:
            x = layer(x, num_frames)
            if num_frames is not None:
                num_frames = layer.downscale.num_output_frames(num_frames)
        x = zero_padding(self.out_proj(self.dropout(x)), num_frames)
        return x, num_frames_to_lens(num_frames, x.shape[1], x.shape[0], x.device)
