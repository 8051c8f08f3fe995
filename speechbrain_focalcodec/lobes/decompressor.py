"""Focal decompressor: quantized codes -> features for the decoder.

The mirror of the compressor: a linear projection from the code dimension,
then (focal block, Snake + up-scaling transposed convolution) layers. Causal
decompressors with lookahead end with a chunk-wise refiner (FocalCodec-Stream).

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
from typing import Any, Optional, Sequence, Tuple

from torch import Tensor, nn

from speechbrain_focalcodec.lobes.activations import Snake1d
from speechbrain_focalcodec.lobes.config import records_config
from speechbrain_focalcodec.lobes.feed_forward import ChunkFeedForward
from speechbrain_focalcodec.lobes.focal_modulation import FocalBlock
from speechbrain_focalcodec.ops.frame_conv import transposed_conv
from speechbrain_focalcodec.ops.linear import Linear
from speechbrain_focalcodec.ops.padding import (
    causal_pad,
    lens_to_counts,
    num_frames_to_lens,
    zero_padding,
)

__all__ = ["FocalDecompressor", "FocalUpScale", "UpScale"]


class UpScale(nn.Module):
    """Snake activation followed by a transposed convolution.

    Arguments
    ---------
    input_dim : int
        Input channels.
    output_dim : int
        Output channels.
    kernel_size : int
        Transposed convolution kernel.
    stride : int
        Transposed convolution stride (the up-scaling factor).
    causal : bool
        Causal padding: left context from the first frame, output trimmed to
        ``time * stride`` frames.

    Example
    -------
    >>> layer = UpScale(8, 4, kernel_size=2, stride=2)
    >>> layer(torch.randn(1, 5, 8)).shape
    torch.Size([1, 10, 4])
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
        self.activation = Snake1d(input_dim)
        self.upscale = nn.ConvTranspose1d(input_dim, output_dim, kernel_size, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Up-scales the sequence.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, input_dim]``.

        Returns
        -------
        y : torch.Tensor
            Shape ``[batch, time * stride, output_dim]`` (plus
            ``kernel_size - stride`` frames offline).
        """
        if self.kernel_size == self.stride:
            # Frames do not overlap: padding is irrelevant, one matrix product.
            return transposed_conv(self.activation(x), self.upscale.weight, self.upscale.bias)
        time = x.shape[1]
        x = x.transpose(1, 2)
        if self.causal:
            x = causal_pad(x, self.kernel_size - 1)
        x = self.activation(x.transpose(1, 2)).transpose(1, 2)
        y = self.upscale(x)
        if self.causal:
            y = y[..., -time * self.stride :]
        return y.transpose(1, 2)


class FocalUpScale(nn.Module):
    """One decompressor layer: a ``FocalBlock`` then ``UpScale``.

    Arguments
    ---------
    input_dim : int
        Input channels (the focal block works at this width, with a 4x wider
        feed-forward).
    output_dim : int
        Output channels.
    upscale_factor : int
        Kernel and stride of the up-scaling convolution.
    **focal_kwargs : dict
        Keyword arguments of ``FocalBlock`` (focal_window, focal_level, ...).

    Example
    -------
    >>> layer = FocalUpScale(8, 16, upscale_factor=2, focal_window=3)
    >>> layer(torch.randn(2, 5, 8)).shape
    torch.Size([2, 10, 16])
    """

    def __init__(
        self, input_dim: int, output_dim: int, upscale_factor: int = 1, **focal_kwargs: Any
    ) -> None:
        super().__init__()
        causal = focal_kwargs.get("causal", False)
        self.focal_block = FocalBlock(input_dim, 4 * input_dim, **focal_kwargs)
        self.upscale = UpScale(input_dim, output_dim, upscale_factor, upscale_factor, causal)

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
            Shape ``[batch, time * upscale_factor, output_dim]``.
        """
        return self.upscale(self.focal_block(x, num_frames))


class FocalDecompressor(nn.Module):
    """Focal decompressor (named ``FocalDecoder`` in official checkpoints).

    Arguments
    ---------
    input_dim : int
        Code dimension.
    output_dim : int
        Channels of the reconstructed features.
    hidden_dims : sequence of int
        Width of each layer.
    upscale_factors : sequence of int
        Up-scaling factor of each layer.
    focal_window : int
        See ``FocalModulation``.
    focal_level : int
        See ``FocalModulation``.
    focal_factor : int
        See ``FocalModulation``.
    dropout : float
        Dropout after the input projection and in the focal blocks.
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
        Causal global context window of every layer but the last.
    last_window_size : int
        Causal global context window of the last layer.
    lookahead_size : int
        Frames of lookahead; a causal decompressor with lookahead ends with a
        refiner over chunks of ``1 + lookahead_size`` frames.

    Example
    -------
    >>> decompressor = FocalDecompressor(
    ...     8, 32, hidden_dims=[16, 24], upscale_factors=[1, 2], focal_window=3
    ... )
    >>> qfeats, lens = decompressor(torch.randn(2, 5, 8), torch.tensor([1.0, 0.4]))
    >>> qfeats.shape, lens
    (torch.Size([2, 10, 32]), tensor([1.0000, 0.4000]))
    """

    @records_config
    def __init__(
        self,
        input_dim: int = 12,
        output_dim: int = 1024,
        hidden_dims: Sequence[int] = (1024, 1024, 1024),
        upscale_factors: Sequence[int] = (1, 1, 1),
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
        last_window_size: int = 512,
        lookahead_size: int = 3,
    ) -> None:
        super().__init__()
        if len(hidden_dims) != len(upscale_factors):
            raise ValueError(
                "`hidden_dims` and `upscale_factors` must have the same length, got "
                f"{len(hidden_dims)} and {len(upscale_factors)}"
            )
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.causal = causal
        self.upsample_factor = math.prod(upscale_factors)
        self.chunk_frames = 1 + lookahead_size
        self.in_proj = Linear(input_dim, hidden_dims[0])
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList()
        widths = list(hidden_dims) + [output_dim]
        for i, factor in enumerate(upscale_factors):
            last = i == len(upscale_factors) - 1
            self.layers.append(
                FocalUpScale(
                    widths[i],
                    widths[i + 1],
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
                    window_size=last_window_size if last else window_size,
                )
            )
        if causal and lookahead_size > 0:
            self.refiner = ChunkFeedForward(
                self.chunk_frames, output_dim, self.chunk_frames * output_dim, dropout
            )
        else:
            self.refiner = None

    def forward(self, codes: Tensor, lens: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Reconstructs features from codes.

        Arguments
        ---------
        codes : torch.Tensor
            Quantized latents, shape ``[batch, time, input_dim]``.
        lens : torch.Tensor, optional
            Relative lengths, shape ``[batch]``.

        Returns
        -------
        qfeats : torch.Tensor
            Shape ``[batch, time * upsample_factor, output_dim]``; zero on
            padded frames.
        lens : torch.Tensor
            Relative lengths of ``qfeats`` (unchanged: up-scaling is exact).
        """
        num_frames = lens_to_counts(lens, codes.shape[1])
        x = self.dropout(self.in_proj(codes))
        for layer in self.layers:
            x = layer(x, num_frames)
            if num_frames is not None:
                num_frames = num_frames * layer.upscale.stride
        if self.refiner is not None:
            x = self.refiner(x, num_frames)
        x = zero_padding(x, num_frames)
        return x, num_frames_to_lens(num_frames, x.shape[1], x.shape[0], x.device)
