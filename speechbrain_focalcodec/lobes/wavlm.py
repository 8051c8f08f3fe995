"""WavLM encoder (Chen et al., "WavLM", https://arxiv.org/abs/2110.13900).

FocalCodec uses the convolutional feature extractor and the first six
transformer layers of WavLM-large; FocalCodec-Stream makes them causal
(causal convolutions, chunked attention with lookahead).

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.attention import TransformerEncoder
from speechbrain_focalcodec.lobes.causal import CausalConvolution, left_context
from speechbrain_focalcodec.lobes.config import records_config
from speechbrain_focalcodec.ops.capability import tracing
from speechbrain_focalcodec.ops.frame_conv import strided_conv
from speechbrain_focalcodec.ops.linear import Linear
from speechbrain_focalcodec.ops.padding import (
    lens_to_counts,
    num_frames_to_lens,
    zero_padding,
)

__all__ = ["ConvBlock", "ConvFeatureExtractor", "WavLM"]

# Long inputs on CPU go through the feature extractor in blocks of this many
# output frames (2 s at 50 Hz): the activations of a block (13 MB after the first
# convolution, against 65 MB for 10 s whole) stay in cache and in the
# allocator's reused memory, and every frame is computed from the same
# samples as from the whole input (equal outputs, tested).
BLOCK_FRAMES = 100


class ConvBlock(CausalConvolution):
    """Strided convolution (no bias), LayerNorm over channels, GELU.

    Arguments
    ---------
    input_dim : int
        Input channels.
    output_dim : int
        Output channels.
    kernel_size : int
        Convolution kernel.
    stride : int
        Convolution stride.
    dropout : float
        Dropout after the convolution.
    causal : bool
        Left-pad with the first sample (``kernel_size - 1`` of them) so that
        frame ``t`` only depends on samples up to ``t * stride``.

    Example
    -------
    >>> block = ConvBlock(1, 8, kernel_size=10, stride=5)
    >>> block(torch.randn(2, 1, 100)).shape
    torch.Size([2, 8, 19])
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        kernel_size: int,
        stride: int,
        dropout: float = 0.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.causal = causal
        self.conv = nn.Conv1d(input_dim, output_dim, kernel_size, stride, bias=False)
        self.context_channels = input_dim
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(output_dim)
        self.activation = nn.GELU()

    def num_output_frames(self, num_frames: Union[int, Tensor]) -> Union[int, Tensor]:
        """Output frames that a sequence of ``num_frames`` frames gives alone.

        Arguments
        ---------
        num_frames : int or torch.Tensor
            Input frame counts.

        Returns
        -------
        num_frames : int or torch.Tensor
            Output frame counts.
        """
        if self.causal:
            return (num_frames - 1) // self.stride + 1
        if isinstance(num_frames, Tensor):
            num_frames = num_frames.clamp(min=self.kernel_size)
        else:  # int, or a symbolic int under torch.export
            num_frames = torch.sym_max(num_frames, self.kernel_size)
        return (num_frames - self.kernel_size) // self.stride + 1

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Applies the block.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, input_dim, time]`` (channels first).
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Shape ``[batch, output_dim, time']``.
        """
        return self.forward_frames(x.transpose(1, 2), num_frames).transpose(1, 2)

    def forward_frames(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Applies the block to channels-last frames (no transposition on the way).

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
        if self.causal:
            return self.step(x)[0]
        x = zero_padding(x, num_frames)
        if x.shape[1] < self.kernel_size:
            # Inputs shorter than the kernel still give one frame.
            x = nn.functional.pad(x, [0, 0, 0, self.kernel_size - x.shape[1]])
        return self._convolve(x)

    def _convolve(self, x: Tensor) -> Tensor:
        x = self.dropout(strided_conv(x, self.conv.weight, self.stride))
        return self.activation(self.norm(x))


class ConvFeatureExtractor(nn.Module):
    """Stack of ``ConvBlock`` turning a waveform into frames.

    Arguments
    ---------
    hidden_dims : sequence of int
        Output channels of each block.
    kernel_sizes : sequence of int
        Kernel of each block.
    strides : sequence of int
        Stride of each block; their product is the samples per frame.
    dropout : float
        Dropout after each convolution.
    causal : bool
        Causal blocks.

    On CPU, inputs of at least ``2 * BLOCK_FRAMES`` output frames go through
    the blocks ``BLOCK_FRAMES`` output frames at a time (forward hooks on the
    blocks' sub-modules then see one call per such block).

    Example
    -------
    >>> extractor = ConvFeatureExtractor([8, 8], [10, 3], [5, 2])
    >>> frames, num_frames = extractor(torch.randn(2, 100), torch.tensor([100, 60]))
    >>> frames.shape, num_frames
    (torch.Size([2, 8, 9]), tensor([9, 5]))
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        kernel_sizes: Sequence[int],
        strides: Sequence[int],
        dropout: float = 0.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        if not len(hidden_dims) == len(kernel_sizes) == len(strides):
            raise ValueError(
                "`hidden_dims`, `kernel_sizes` and `strides` must have the same length"
            )
        self.layers = nn.ModuleList()
        input_dim = 1
        for hidden_dim, kernel_size, stride in zip(hidden_dims, kernel_sizes, strides):
            self.layers.append(
                ConvBlock(input_dim, hidden_dim, kernel_size, stride, dropout, causal)
            )
            input_dim = hidden_dim

    def num_output_frames(self, num_samples: Tensor) -> Tensor:
        """Frames that a waveform of ``num_samples`` samples gives alone.

        Arguments
        ---------
        num_samples : torch.Tensor
            Sample counts.

        Returns
        -------
        num_frames : torch.Tensor
            Frame counts.
        """
        for layer in self.layers:
            num_samples = layer.num_output_frames(num_samples)
        return num_samples

    def forward(
        self, sig: Tensor, num_samples: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Extracts frames.

        Arguments
        ---------
        sig : torch.Tensor
            Waveform, shape ``[batch, time]``.
        num_samples : torch.Tensor, optional
            Valid samples per item.

        Returns
        -------
        frames : torch.Tensor
            Shape ``[batch, hidden_dims[-1], frames]`` (channels first).
        num_frames : torch.Tensor or None
            Valid frames per item.
        """
        x = sig[..., None]
        counts = [num_samples]
        for layer in self.layers:
            counts.append(None if counts[-1] is None else layer.num_output_frames(counts[-1]))
        blocked, length = not tracing() and x.device.type == "cpu", x.shape[1]
        if blocked:
            for layer in self.layers:
                length = layer.num_output_frames(length)
        if not blocked or length < 2 * BLOCK_FRAMES:
            for layer, num_frames in zip(self.layers, counts):
                x = layer.forward_frames(x, num_frames)
            return x.transpose(1, 2), counts[-1]
        blocks = [
            self._block(x, counts, start, min(start + BLOCK_FRAMES, length))
            for start in range(0, length, BLOCK_FRAMES)
        ]
        return torch.cat(blocks, dim=1).transpose(1, 2), counts[-1]

    def _block(self, x: Tensor, counts: List[Optional[Tensor]], start: int, end: int) -> Tensor:
        """Output frames ``[start, end)`` of a long input, computed from the input
        frames they depend on only (the same windows as from the whole input;
        causal blocks repeat the first frame before the start, as offline)."""
        bounds = [(start, end, 0)]
        for layer in reversed(self.layers):  # input frames each layer needs
            first, last, _ = bounds[0]
            stride, kernel_size = layer.stride, layer.kernel_size
            if layer.causal:
                first, last = stride * first - kernel_size + 1, stride * (last - 1) + 1
            else:
                first, last = stride * first, stride * (last - 1) + kernel_size
            bounds.insert(0, (max(first, 0), last, max(-first, 0)))
        h = x[:, bounds[0][0] : bounds[0][1]]
        for layer, num_frames, (first, _, pad) in zip(self.layers, counts, bounds):
            if layer.causal:
                h = layer._convolve(left_context(h, pad)[0] if pad else h)
            else:
                valid = None if num_frames is None else num_frames - first
                h = layer._convolve(zero_padding(h, valid))
        return h


class WavLM(nn.Module):
    """WavLM encoder: waveform -> 50 Hz features.

    Arguments
    ---------
    hidden_dims : sequence of int
        Channels of each convolutional block.
    kernel_sizes : sequence of int
        Kernel of each convolutional block.
    strides : sequence of int
        Stride of each convolutional block.
    num_layers : int
        Transformer layers.
    dim : int
        Transformer width (output feature size).
    ffn_dim : int
        Transformer feed-forward size.
    num_heads : int
        Attention heads.
    num_buckets : int
        Relative position buckets.
    max_distance : int
        Largest distinguished relative offset.
    dropout : float
        Dropout.
    conv_pos : int
        Kernel of the convolutional positional embedding.
    conv_pos_groups : int
        Groups of the convolutional positional embedding.
    causal : bool
        Causal encoder (FocalCodec-Stream).
    window_size : int
        Frames of left context of causal attention.
    lookahead_size : int
        Frames of lookahead of causal attention.

    Example
    -------
    >>> encoder = WavLM(
    ...     [8] * 3, [10, 3, 3], [5, 2, 2],
    ...     num_layers=1, dim=16, ffn_dim=32, num_heads=4, conv_pos=8, conv_pos_groups=4,
    ... )
    >>> feats, lens = encoder(torch.randn(2, 400), torch.tensor([1.0, 0.5]))
    >>> feats.shape, lens
    (torch.Size([2, 19, 16]), tensor([1.0000, 0.4737]))
    """

    @records_config
    def __init__(
        self,
        hidden_dims: Sequence[int] = (512,) * 7,
        kernel_sizes: Sequence[int] = (10, 3, 3, 3, 3, 2, 2),
        strides: Sequence[int] = (5, 2, 2, 2, 2, 2, 2),
        num_layers: int = 6,
        dim: int = 1024,
        ffn_dim: int = 4096,
        num_heads: int = 16,
        num_buckets: int = 320,
        max_distance: int = 800,
        dropout: float = 0.0,
        conv_pos: int = 128,
        conv_pos_groups: int = 16,
        causal: bool = False,
        window_size: int = 512,
        lookahead_size: int = 3,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.causal = causal
        self.sample_rate = 16000
        self.downsample_factor = math.prod(strides)
        self.chunk_size = self.downsample_factor * (1 + lookahead_size)
        self.feature_extractor = ConvFeatureExtractor(
            hidden_dims, kernel_sizes, strides, dropout, causal
        )
        self.norm = nn.LayerNorm(hidden_dims[-1])
        self.feature_proj = Linear(hidden_dims[-1], dim)
        self.dropout = nn.Dropout(dropout)
        self.encoder = TransformerEncoder(
            num_layers,
            dim,
            ffn_dim,
            num_heads,
            num_buckets,
            max_distance,
            dropout,
            conv_pos,
            conv_pos_groups,
            causal,
            window_size,
            lookahead_size,
        )

    def num_output_frames(self, num_samples: Tensor) -> Tensor:
        """Feature frames that a waveform of ``num_samples`` samples gives alone.

        Arguments
        ---------
        num_samples : torch.Tensor
            Sample counts.

        Returns
        -------
        num_frames : torch.Tensor
            Frame counts.
        """
        return self.feature_extractor.num_output_frames(num_samples)

    def forward(self, sig: Tensor, lens: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Encodes waveforms.

        Arguments
        ---------
        sig : torch.Tensor
            Waveforms at ``sample_rate``, shape ``[batch, time]``.
        lens : torch.Tensor, optional
            Relative lengths, shape ``[batch]``.

        Returns
        -------
        feats : torch.Tensor
            Shape ``[batch, frames, dim]``; zero on padded frames.
        lens : torch.Tensor
            Relative lengths of ``feats``.
        """
        num_samples = lens_to_counts(lens, sig.shape[1])
        frames, num_frames = self.feature_extractor(sig, num_samples)
        x = self.dropout(self.feature_proj(self.norm(frames.transpose(1, 2))))
        x = zero_padding(self.encoder(x, num_frames), num_frames)
        return x, num_frames_to_lens(num_frames, x.shape[1], x.shape[0], x.device)
