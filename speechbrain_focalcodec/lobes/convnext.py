"""ConvNeXt backbone shared by the Vocos and WaveNeXt decoders.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.causal import Context, Fresh, left_context, take_contexts
from speechbrain_focalcodec.ops.frame_conv import conv_frames
from speechbrain_focalcodec.ops.linear import Linear, linear
from speechbrain_focalcodec.ops.padding import lens_to_counts, num_frames_to_lens, zero_padding

__all__ = ["ConvNeXtBackbone", "ConvNeXtBlock", "ConvNeXtDecoder"]


class ConvNeXtBlock(nn.Module):
    """Depth-wise convolution, LayerNorm, MLP and a layer-scaled residual.

    Arguments
    ---------
    dim : int
        Channels.
    ffn_dim : int
        Hidden size of the MLP.
    kernel_size : int
        Depth-wise convolution kernel.
    layerscale_init : float
        Initial layer-scale gain.
    causal : bool
        Causal convolution.
    pad_mode : str
        How a causal convolution pads the first frame: ``"replicate"`` (Vocos)
        or ``"constant"`` (WaveNeXt).

    Example
    -------
    >>> block = ConvNeXtBlock(16, 48, kernel_size=7, layerscale_init=0.1)
    >>> block(torch.randn(2, 10, 16)).shape
    torch.Size([2, 10, 16])
    """

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        kernel_size: int = 7,
        layerscale_init: float = 1e-6,
        causal: bool = False,
        pad_mode: str = "replicate",
    ) -> None:
        super().__init__()
        self.causal = causal
        self.pad_mode = pad_mode
        self.causal_pad = kernel_size - 1
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=0 if causal else "same", groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = Linear(dim, ffn_dim)
        self.activation = nn.GELU()  # applied fused with pwconv1, see `linear`
        self.pwconv2 = Linear(ffn_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layerscale_init))

    def context_shapes(self) -> List[Tuple[int, int]]:
        """``(frames, channels)`` of the left context of a causal block."""
        return (
            [(self.causal_pad, self.dwconv.in_channels)] if self.causal and self.causal_pad else []
        )

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
        """Applies the block after the given left context (the only definition
        of the block: ``forward`` is the step from the start).

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        contexts : list of torch.Tensor or History, optional
            Causal blocks: the left context of the depth-wise convolution
            (see ``context_shapes``); None at the start.
        fresh : bool or torch.Tensor
            Streams that start with ``x`` (see ``causal.left_context``).
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        contexts : list of torch.Tensor or History
            Left contexts for the frames that follow (empty offline).
        """
        h, contexts = _pad(self, x, contexts, fresh, num_frames)
        conv = self.dwconv
        h = self.norm(conv_frames(h, conv.weight, conv.bias, conv.padding, conv.groups))
        h = self.pwconv2(linear(h, self.pwconv1.weight, self.pwconv1.bias, "gelu"))
        return x + self.gamma * h, contexts


def _pad(
    module: nn.Module,
    x: Tensor,
    contexts: Optional[List[Context]],
    fresh: Fresh,
    num_frames: Optional[Tensor],
) -> Tuple[Tensor, List[Context]]:
    """Input of a block's convolution: left context (causal) or zero padding."""
    if not module.causal:
        return zero_padding(x, num_frames), []
    if not module.causal_pad:
        return x, []
    (context,) = take_contexts(contexts, 1)
    h, context = left_context(x, module.causal_pad, module.pad_mode, context, fresh)
    return h, [context]


class ConvNeXtBackbone(nn.Module):
    """Input convolution, LayerNorm, ConvNeXt blocks and a final LayerNorm.

    Arguments
    ---------
    input_dim : int
        Input channels.
    num_layers : int
        Number of ConvNeXt blocks.
    dim : int
        Hidden channels.
    ffn_dim : int
        Hidden size of the block MLPs.
    kernel_size : int
        Kernel of the input and depth-wise convolutions.
    layerscale_init : float, optional
        Initial layer-scale gain; ``1 / num_layers`` if None.
    causal : bool
        Causal convolutions.
    pad_mode : str
        Causal first-frame padding, ``"replicate"`` or ``"constant"``.

    Example
    -------
    >>> backbone = ConvNeXtBackbone(32, num_layers=2, dim=16, ffn_dim=48)
    >>> backbone(torch.randn(2, 10, 32)).shape
    torch.Size([2, 10, 16])
    """

    def __init__(
        self,
        input_dim: int,
        num_layers: int = 8,
        dim: int = 512,
        ffn_dim: int = 1536,
        kernel_size: int = 7,
        layerscale_init: Optional[float] = None,
        causal: bool = False,
        pad_mode: str = "replicate",
    ) -> None:
        super().__init__()
        if layerscale_init is None:
            layerscale_init = 1.0 / num_layers
        self.causal = causal
        self.pad_mode = pad_mode
        self.causal_pad = kernel_size - 1
        self.embedding = nn.Conv1d(input_dim, dim, kernel_size, padding=0 if causal else "same")
        self.input_norm = nn.LayerNorm(dim, eps=1e-6)
        self.layers = nn.ModuleList(
            ConvNeXtBlock(dim, ffn_dim, kernel_size, layerscale_init, causal, pad_mode)
            for _ in range(num_layers)
        )
        self.output_norm = nn.LayerNorm(dim, eps=1e-6)

    def context_shapes(self) -> List[Tuple[int, int]]:
        """``(frames, channels)`` of the left contexts of a causal backbone, in order."""
        if not self.causal or not self.causal_pad:
            return []
        shapes = [(self.causal_pad, self.embedding.in_channels)]
        return shapes + [shape for layer in self.layers for shape in layer.context_shapes()]

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Applies the backbone.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, input_dim]``.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Shape ``[batch, time, dim]``.
        """
        return self.step(x, num_frames=num_frames)[0]

    def step(
        self,
        x: Tensor,
        contexts: Optional[List[Context]] = None,
        fresh: Fresh = False,
        num_frames: Optional[Tensor] = None,
    ) -> Tuple[Tensor, List[Context]]:
        """Applies the backbone after the given left contexts.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, input_dim]``.
        contexts : list of torch.Tensor or History, optional
            Causal backbones: the left contexts of every convolution (see
            ``context_shapes``); None at the start.
        fresh : bool or torch.Tensor
            Streams that start with ``x`` (see ``causal.left_context``).
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Shape ``[batch, time, dim]``.
        contexts : list of torch.Tensor or History
            Left contexts for the frames that follow (empty offline).
        """
        layers = self.layers
        # One context per convolution (the input one and one per block), if any.
        count = 1 if self.causal and self.causal_pad else 0
        lefts = take_contexts(contexts, count * (1 + len(layers)))
        h, new_contexts = _pad(self, x, lefts[:count], fresh, num_frames)
        conv = self.embedding
        h = self.input_norm(conv_frames(h, conv.weight, conv.bias, conv.padding, conv.groups))
        for i, layer in enumerate(layers, start=1):
            h, contexts = layer.step(h, lefts[i * count : (i + 1) * count], fresh, num_frames)
            new_contexts += contexts
        return self.output_norm(h), new_contexts


class ConvNeXtDecoder(nn.Module):
    """Base of the decoders made of a ``ConvNeXtBackbone`` and a waveform head (Vocos,
    WaveNeXt): the offline synthesis and the causal ``step`` written once.

    A subclass sets ``backbone``, ``head`` (frames ``[batch, time, dim]`` -> waveform
    ``[batch, time * upsample_factor]``) and ``upsample_factor``; ``_head`` passes the
    valid frame counts to heads that use them.
    """

    backbone: ConvNeXtBackbone
    head: nn.Module
    upsample_factor: int

    def _head(self, h: Tensor, num_frames: Optional[Tensor]) -> Tensor:
        return self.head(h)

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
            Shape ``[batch, time * upsample_factor]``; zero past each item's end.
        lens : torch.Tensor
            Relative lengths of ``sig`` (unchanged).
        """
        num_frames = lens_to_counts(lens, feats.shape[1])
        sig = self._head(self.backbone(feats, num_frames), num_frames)
        if num_frames is not None:
            sig = zero_padding(sig, num_frames * self.upsample_factor)
        return sig, num_frames_to_lens(num_frames, feats.shape[1], feats.shape[0], sig.device)

    def context_shapes(self) -> List[Tuple[int, int]]:
        """``(frames, channels)`` of the left contexts of a causal decoder."""
        return self.backbone.context_shapes()

    def step(
        self, feats: Tensor, contexts: Optional[List[Context]] = None, fresh: Fresh = False
    ) -> Tuple[Tensor, List[Context]]:
        """Synthesizes the frames that follow the given left contexts (causal).

        Arguments
        ---------
        feats : torch.Tensor
            Features, shape ``[batch, time, input_dim]``.
        contexts : list of torch.Tensor or History, optional
            Left contexts of the backbone's convolutions (see
            ``context_shapes``); None at the start.
        fresh : bool or torch.Tensor
            Streams that start with ``feats`` (see ``causal.left_context``).

        Returns
        -------
        sig : torch.Tensor
            Shape ``[batch, time * upsample_factor]``.
        contexts : list of torch.Tensor or History
            Left contexts for the frames that follow.
        """
        h, contexts = self.backbone.step(feats, contexts, fresh)
        return self._head(h, None), contexts
