"""Focal modulation for 1-D sequences (Yang et al., "Focal Modulation
Networks", https://arxiv.org/abs/2203.11926), offline and causal.

A focal modulation layer projects every frame into a query, a context and
gates. The context is aggregated hierarchically by depth-wise convolutions of
growing kernels plus a global term (the mean over the utterance offline, a
long causal window when streaming); the gated sum modulates the query.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.activations import DynamicTanh
from speechbrain_focalcodec.lobes.causal import Context, Fresh, left_context, take_contexts
from speechbrain_focalcodec.lobes.feed_forward import FeedForward
from speechbrain_focalcodec.ops.frame_conv import conv_frames
from speechbrain_focalcodec.ops.linear import Linear
from speechbrain_focalcodec.ops.padding import masked_mean, zero_padding

__all__ = ["FocalBlock", "FocalModulation"]


class FocalModulation(nn.Module):
    """Focal modulation layer.

    Arguments
    ---------
    dim : int
        Input and output channels.
    focal_window : int
        Kernel size of the first focal level.
    focal_level : int
        Number of focal levels; level ``k`` has kernel
        ``focal_window + k * focal_factor``.
    focal_factor : int
        Kernel growth per level.
    dropout : float
        Dropout on the output.
    use_post_norm : bool
        Normalize the modulated output (LayerNorm, or DynamicTanh if causal).
    tanhscale_init : float
        Initial DynamicTanh scale (causal post-norm only).
    normalize_modulator : bool
        Divide the aggregated context by the number of levels plus one.
    causal : bool
        Causal convolutions and a windowed global context instead of the mean.
    window_size : int
        Length of the causal global context window (causal only).

    Example
    -------
    >>> layer = FocalModulation(16, focal_window=3, focal_level=2, focal_factor=2)
    >>> layer(torch.randn(2, 10, 16)).shape
    torch.Size([2, 10, 16])
    """

    def __init__(
        self,
        dim: int,
        focal_window: int = 14,
        focal_level: int = 2,
        focal_factor: int = 4,
        dropout: float = 0.0,
        use_post_norm: bool = False,
        tanhscale_init: float = 0.5,
        normalize_modulator: bool = False,
        causal: bool = False,
        window_size: int = 512,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.focal_level = focal_level
        self.normalize_modulator = normalize_modulator
        self.causal = causal
        self.in_proj = Linear(dim, 2 * dim + focal_level + 1)
        kernel_sizes = [focal_window + k * focal_factor for k in range(focal_level)]
        if causal:
            # The global context of a causal layer is a long depth-wise window.
            kernel_sizes.append(window_size)
        self.kernel_sizes = kernel_sizes
        self.num_contexts = sum(kernel > 1 for kernel in kernel_sizes) if causal else 0
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(
                    dim,
                    dim,
                    kernel_size,
                    padding=0 if causal else "same",
                    groups=dim,
                ),
                nn.GELU(),
            )
            for kernel_size in kernel_sizes
        )
        self.activation = nn.GELU()
        self.context_proj = nn.Conv1d(dim, dim, kernel_size=1)
        self.out_proj = Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        if not use_post_norm:
            self.norm = nn.Identity()
        elif causal:
            self.norm = DynamicTanh(dim, tanhscale_init)
        else:
            self.norm = nn.LayerNorm(dim)

    def context_shapes(self) -> List[Tuple[int, int]]:
        """``(frames, channels)`` of the left context of each causal convolution."""
        if not self.causal:
            return []
        return [(kernel - 1, self.dim) for kernel in self.kernel_sizes if kernel > 1]

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Modulates every frame with its aggregated context.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        num_frames : torch.Tensor, optional
            Valid frames per item (offline layers only look at those).

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        return self.step(x, num_frames=num_frames)[0]

    def step(
        self,
        x: Tensor,
        contexts: Optional[List[Context]] = None,
        fresh: Fresh = False,
        num_frames: Optional[Tensor] = None,
    ) -> Tuple[Tensor, List[Context]]:
        """Modulates the frames that follow the given left contexts (the only
        definition of the layer: ``forward`` is the step from the start).

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        contexts : list of torch.Tensor or History, optional
            Causal layers: the left context of each causal convolution (see
            ``context_shapes``) from the previous frames; None at the start.
        fresh : bool or torch.Tensor
            Streams that start with ``x`` (see ``causal.left_context``).
        num_frames : torch.Tensor, optional
            Valid frames per item (offline layers only look at those).

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        contexts : list of torch.Tensor or History
            Left contexts for the frames that follow (empty offline).
        """
        # Frames stay channels-last throughout (see frame_conv.py).
        query, context, gates = self.in_proj(x).split(
            [self.dim, self.dim, self.focal_level + 1], dim=-1
        )
        lefts = iter(take_contexts(contexts, self.num_contexts))
        new_contexts: List[Context] = []
        aggregated = torch.zeros_like(query)
        for level, layer in enumerate(self.layers):
            conv, activation = layer
            if self.causal:
                pad = self.kernel_sizes[level] - 1
                if pad > 0:
                    context, left = left_context(context, pad, "replicate", next(lefts), fresh)
                    new_contexts.append(left)
            else:
                # "same" zero padding: padded frames must read as zeros too.
                context = zero_padding(context, num_frames)
            context = conv_frames(context, conv.weight, conv.bias, conv.padding, conv.groups)
            context = activation(context)
            aggregated = aggregated + context * gates[..., level : level + 1]
        if not self.causal:
            global_context = self.activation(masked_mean(context, num_frames, time_dim=1))
            aggregated = aggregated + global_context[:, None] * gates[..., -1:]
        if self.normalize_modulator:
            aggregated = aggregated / (self.focal_level + 1)
        proj = self.context_proj
        output = query * conv_frames(aggregated, proj.weight, proj.bias)
        return self.dropout(self.out_proj(self.norm(output))), new_contexts


class FocalBlock(nn.Module):
    """Focal modulation and feed-forward sub-layers with residual connections.

    Normalization is LayerNorm offline and DynamicTanh when causal; it comes
    before each sub-layer, or after it with ``use_post_norm``.

    Arguments
    ---------
    dim : int
        Input and output channels.
    ffn_dim : int
        Hidden size of the feed-forward sub-layer.
    focal_window : int
        See ``FocalModulation``.
    focal_level : int
        See ``FocalModulation``.
    focal_factor : int
        See ``FocalModulation``.
    dropout : float
        Dropout of both sub-layers.
    use_post_norm : bool
        Normalize after the sub-layers instead of before.
    use_layerscale : bool
        Scale each sub-layer output by a learnable per-channel gain.
    layerscale_init : float
        Initial gain.
    tanhscale_init : float
        Initial DynamicTanh scale (causal only).
    normalize_modulator : bool
        See ``FocalModulation``.
    causal : bool
        Causal focal modulation and DynamicTanh normalization.
    window_size : int
        See ``FocalModulation``.

    Example
    -------
    >>> block = FocalBlock(16, 64, focal_window=3, causal=True, window_size=8)
    >>> block(torch.randn(2, 10, 16)).shape
    torch.Size([2, 10, 16])
    """

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
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
        self.use_post_norm = use_post_norm
        self.use_layerscale = use_layerscale

        def norm() -> nn.Module:
            return DynamicTanh(dim, tanhscale_init) if causal else nn.LayerNorm(dim)

        self.modulation_norm = norm()
        self.modulation = FocalModulation(
            dim,
            focal_window,
            focal_level,
            focal_factor,
            dropout,
            use_post_norm,
            tanhscale_init,
            normalize_modulator,
            causal,
            window_size,
        )
        self.feed_forward_norm = norm()
        self.feed_forward = FeedForward(dim, ffn_dim, dropout)
        if use_layerscale:
            self.modulation_gamma = nn.Parameter(torch.full((dim,), layerscale_init))
            self.feed_forward_gamma = nn.Parameter(torch.full((dim,), layerscale_init))

    def context_shapes(self) -> List[Tuple[int, int]]:
        """``(frames, channels)`` of the left contexts of a causal block."""
        return self.modulation.context_shapes()

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Applies the block.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        return self.step(x, num_frames=num_frames)[0]

    def step(
        self,
        x: Tensor,
        contexts: Optional[List[Context]] = None,
        fresh: Fresh = False,
        num_frames: Optional[Tensor] = None,
    ) -> Tuple[Tensor, List[Context]]:
        """Applies the block after the given left contexts (see ``FocalModulation.step``).

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        contexts : list of torch.Tensor or History, optional
            Left contexts of the causal convolutions; None at the start.
        fresh : bool or torch.Tensor
            Streams that start with ``x``.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        contexts : list of torch.Tensor or History
            Left contexts for the frames that follow.
        """
        if self.use_post_norm:
            h, contexts = self.modulation.step(x, contexts, fresh, num_frames)
            h = self.modulation_norm(h)
        else:
            h, contexts = self.modulation.step(self.modulation_norm(x), contexts, fresh, num_frames)
        if self.use_layerscale:
            h = h * self.modulation_gamma
        x = x + h
        if self.use_post_norm:
            h = self.feed_forward_norm(self.feed_forward(x))
        else:
            h = self.feed_forward(self.feed_forward_norm(x))
        if self.use_layerscale:
            h = h * self.feed_forward_gamma
        return x + h, contexts
