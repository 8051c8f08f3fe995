"""Chunk-by-chunk processing of the causal lobes with explicit tensor state.

Each ``*Stream`` module wraps a causal lobe (sharing its parameters) and
processes one chunk at a time: ``y, state = step(x, state)``. The state is a
flat list of tensors of fixed shapes (see ``state_shapes``), so that a step
exports to ONNX with the state as plain inputs and outputs:

* ``step``: ``[batch]`` int64, frames already processed by this stream; 0
  marks a fresh stream, whose causal convolutions pad the first chunk with
  copies of its first frame (zeros for WaveNeXt), as offline processing does;
* ``context.*``: ``[batch, kernel_size - 1, channels]``, the last inputs of
  each causal convolution (channels-last, as the frames of the lobes);
* ``keys.*`` / ``values.*``: ``[batch, heads, window_size - 1, head_dim]``,
  the attention cache of each transformer layer; slots older than the stream
  are masked out.

Chunks must hold whole lookahead chunks (a multiple of 4 frames for the
official models), except a stream's final chunk, which may be shorter. The
concatenated outputs then equal the offline causal forward passes.

Frames stay channels-last throughout and the convolutions run through
``frame_conv.py``: a chunk has only a few frames, so they are products of the
windows with the kernels rather than convolution primitives, whose weight
reordering would dominate at that size.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.compressor import FocalCompressor
from speechbrain_focalcodec.lobes.convnext import ConvNeXtBackbone
from speechbrain_focalcodec.lobes.decompressor import FocalDecompressor
from speechbrain_focalcodec.lobes.focal_modulation import FocalBlock
from speechbrain_focalcodec.lobes.vocos import Vocos
from speechbrain_focalcodec.lobes.wavenext import WaveNeXt
from speechbrain_focalcodec.lobes.wavlm import WavLM
from speechbrain_focalcodec.ops.frame_conv import _exporting, conv_frames, strided_conv
from speechbrain_focalcodec.ops.linear import linear

__all__ = [
    "CompressorStream",
    "DecoderStream",
    "DecompressorStream",
    "WavLMStream",
    "split_state",
    "with_left_context",
]

State = List[Tensor]
Shape = Tuple[str, Tuple[int, ...]]


def fresh_streams(step: Tensor) -> Union[Tensor, bool]:
    """Which streams start with this chunk, from their ``step`` counters.

    Arguments
    ---------
    step : torch.Tensor
        ``[batch]`` frames already processed by each stream.

    Returns
    -------
    fresh : torch.Tensor or bool
        True or False when all streams agree (read once per chunk, so that
        the convolutions need not look at the device's values), else the
        ``[batch]`` bool mask; always the mask for exports, whose graph
        selects per stream.

    Example
    -------
    >>> fresh_streams(torch.tensor([0, 0])), fresh_streams(torch.tensor([4, 8]))
    (True, False)
    >>> fresh_streams(torch.tensor([0, 8]))
    tensor([ True, False])
    """
    fresh = step == 0
    if _exporting():
        return fresh
    if bool(fresh.all()):
        return True
    return fresh if bool(fresh.any()) else False


def with_left_context(
    x: Tensor, context: Tensor, fresh: Union[Tensor, bool], mode: str
) -> Tuple[Tensor, Tensor]:
    """Prepends the left context of a causal convolution to a chunk.

    Arguments
    ---------
    x : torch.Tensor
        Chunk, shape ``[batch, time, channels]``.
    context : torch.Tensor
        Last inputs seen, shape ``[batch, pad, channels]``.
    fresh : torch.Tensor or bool
        ``[batch]`` bool (or one value for all, see ``fresh_streams``), True
        for streams that start with this chunk: their context is the chunk's
        first frame repeated (``mode="replicate"``) or zeros
        (``mode="constant"``).
    mode : str
        First-chunk padding.

    Returns
    -------
    padded : torch.Tensor
        Shape ``[batch, pad + time, channels]``.
    context : torch.Tensor
        The context for the next chunk (a view of ``padded``).

    Example
    -------
    >>> x = torch.tensor([[[1.0], [2.0]]])
    >>> with_left_context(x, torch.zeros(1, 3, 1), torch.tensor([True]), "replicate")[0][..., 0]
    tensor([[1., 1., 1., 1., 2.]])
    >>> context = torch.full((1, 3, 1), 7.0)
    >>> with_left_context(x, context, torch.tensor([False]), "replicate")[1][..., 0]
    tensor([[7., 1., 2.]])
    """
    pad = context.shape[1]
    if mode == "replicate":
        start = x[:, :1].expand(-1, pad, -1)
    else:
        start = torch.zeros_like(context)
    if isinstance(fresh, bool):
        context = start if fresh else context
    else:
        context = torch.where(fresh[:, None, None], start, context)
    padded = torch.cat([context, x], dim=1)
    return padded, padded[:, padded.shape[1] - pad :]


def split_state(state: State, sizes: List[int]) -> List[State]:
    """Cuts a flat state into consecutive parts of the given sizes.

    Arguments
    ---------
    state : list of torch.Tensor
        Flat state.
    sizes : list of int
        Tensors per part.

    Returns
    -------
    parts : list of list of torch.Tensor

    Example
    -------
    >>> [len(part) for part in split_state([torch.zeros(1)] * 5, [2, 3])]
    [2, 3]
    """
    parts, start = [], 0
    for size in sizes:
        parts.append(state[start : start + size])
        start += size
    return parts


class _Stream(nn.Module):
    """Common state handling: names, shapes and the initial (fresh) state.

    ``_layers`` lists, per layer, the ``(channels, pad)`` of its causal
    convolutions; their contexts follow the ``step`` counter in the state.
    """

    _layers: List[List[Tuple[int, int]]]

    def state_shapes(self) -> List[Shape]:
        """Names and per-item shapes (batch axis omitted) of the state tensors."""
        shapes: List[Shape] = [("step", ())]
        for i, convs in enumerate(self._layers):
            prefix = "context" if len(self._layers) == 1 else f"context.{i}"
            shapes += [(f"{prefix}.{j}", (pad, c)) for j, (c, pad) in enumerate(convs) if pad]
        return shapes

    def _contexts(self, state: State) -> List[State]:
        """The contexts of each layer, from a state."""
        sizes = [sum(1 for _, pad in convs if pad) for convs in self._layers]
        return split_state(state[1 : 1 + sum(sizes)], sizes)

    def initial_state(
        self,
        batch_size: int,
        device: Optional[torch.device] = None,
        dtype: torch.dtype = torch.float32,
    ) -> State:
        """State of ``batch_size`` fresh streams.

        Arguments
        ---------
        batch_size : int
            Number of independent streams.
        device : torch.device, optional
            Device of the state.
        dtype : torch.dtype
            Floating point type of the contexts and caches.

        Returns
        -------
        state : list of torch.Tensor
        """
        state = [torch.zeros(batch_size, dtype=torch.long, device=device)]
        for _, shape in self.state_shapes()[1:]:
            state.append(torch.zeros((batch_size,) + shape, dtype=dtype, device=device))
        return state


class WavLMStream(_Stream):
    """Causal WavLM encoder, chunk by chunk: waveform -> features.

    Arguments
    ---------
    encoder : WavLM
        A causal encoder.

    Example
    -------
    >>> encoder = WavLM(
    ...     [8] * 3, [10, 3, 3], [5, 2, 2], num_layers=1, dim=16, ffn_dim=32, num_heads=4,
    ...     conv_pos=8, conv_pos_groups=4, causal=True, window_size=8, lookahead_size=1,
    ... ).eval()
    >>> stream = WavLMStream(encoder)
    >>> sig = torch.randn(1, 400)
    >>> state = stream.initial_state(1)
    >>> chunks = []
    >>> for chunk in sig.split(40, dim=1):
    ...     feats, state = stream(chunk, state)
    ...     chunks.append(feats)
    >>> torch.allclose(torch.cat(chunks, dim=1), encoder(sig)[0], atol=1e-5)
    True
    """

    def __init__(self, encoder: WavLM) -> None:
        super().__init__()
        if not encoder.causal:
            raise ValueError("Only a causal WavLM encoder can be streamed")
        self.encoder = encoder
        transformer = encoder.encoder
        self.chunk_frames = transformer.chunk_size
        self.window_size = transformer.window_size
        self.cache_size = transformer.window_size - 1
        attention = transformer.layers[0].attention
        self.num_heads, self.head_dim = attention.num_heads, attention.head_dim
        blocks = encoder.feature_extractor.layers
        convs = [(block.conv.in_channels, block.kernel_size - 1) for block in blocks]
        convs.append((encoder.dim, transformer.positional_embedding.kernel_size - 1))
        self._layers = [convs]

    def state_shapes(self) -> List[Shape]:
        """Names and per-item shapes of the state tensors."""
        cache = (self.num_heads, self.cache_size, self.head_dim)
        layers = range(len(self.encoder.encoder.layers))
        caches = [(f"{kind}.{i}", cache) for i in layers for kind in ("keys", "values")]
        return super().state_shapes() + caches

    def forward(self, sig: Tensor, state: State) -> Tuple[Tensor, State]:
        """Encodes one chunk.

        Arguments
        ---------
        sig : torch.Tensor
            Waveform chunk, ``[batch, samples]``, a multiple of
            ``downsample_factor`` samples (except for a final chunk).
        state : list of torch.Tensor
            State after the previous chunk.

        Returns
        -------
        feats : torch.Tensor
            ``[batch, frames, dim]``.
        state : list of torch.Tensor
            State after this chunk.
        """
        step, fresh = state[0], fresh_streams(state[0])
        contexts = iter(self._contexts(state)[0])
        new_state: State = []
        x = sig[..., None]
        for block in self.encoder.feature_extractor.layers:
            if block.kernel_size > 1:
                x, context = with_left_context(x, next(contexts), fresh, "replicate")
                new_state.append(context)
            x = block.dropout(strided_conv(x, block.conv.weight, block.stride))
            x = block.activation(block.norm(x))
        x = self.encoder.dropout(self.encoder.feature_proj(self.encoder.norm(x)))
        transformer = self.encoder.encoder
        embedding = transformer.positional_embedding
        h = x
        if embedding.kernel_size > 1:
            h, context = with_left_context(h, next(contexts), fresh, "replicate")
            new_state.append(context)
        conv = embedding.conv
        h = conv_frames(h, conv.weight, conv.bias, groups=conv.groups)
        x = transformer.dropout(x + embedding.activation(h))
        frames = x.shape[1]
        caches = state[1 + len(new_state) :]
        position_bias = transformer.relative_embedding(
            frames, self.cache_size + frames, self.cache_size
        )
        mask = self._attention_mask(step, frames)
        new_caches: State = []
        for i, layer in enumerate(transformer.layers):
            h, keys, values = self._attend(
                layer,
                layer.attention_norm(x),
                caches[2 * i],
                caches[2 * i + 1],
                position_bias,
                mask,
            )
            x = x + layer.dropout(h)
            x = x + layer.feed_forward(layer.feed_forward_norm(x))
            new_caches += [keys, values]
        return x, [step + frames] + new_state + new_caches

    def _attention_mask(self, step: Tensor, frames: int) -> Tensor:
        """Additive mask ``[batch, 1, frames, cache + frames]`` of the allowed keys.

        Query ``i`` belongs to lookahead chunk ``i // chunk`` and sees the
        ``window_size`` frames ending with that chunk (or with the stream's
        end); cache slots older than the stream are masked.
        """
        device = step.device
        queries = torch.arange(frames, device=device)
        keys = torch.arange(self.cache_size + frames, device=device)
        ends = torch.clamp((queries // self.chunk_frames + 1) * self.chunk_frames, max=frames)
        ends = ends + self.cache_size
        allowed = (keys[None, :] >= (ends - self.window_size)[:, None]) & (
            keys[None, :] < ends[:, None]
        )
        seen = torch.clamp(step, max=self.cache_size)
        valid = keys[None, :] >= (self.cache_size - seen)[:, None]
        allowed = allowed[None] & valid[:, None, :]
        mask = torch.zeros(allowed.shape, device=device)
        return mask.masked_fill(~allowed, float("-inf"))[:, None]

    def _attend(
        self,
        layer: nn.Module,
        x: Tensor,
        keys: Tensor,
        values: Tensor,
        position_bias: Tensor,
        mask: Tensor,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Gated relative attention of a chunk over the cache and itself."""
        attention = layer.attention
        batch, frames, dim = x.shape
        query, key, value = (
            attention.qkv_proj(x)
            .view(batch, frames, 3, self.num_heads, self.head_dim)
            .permute(2, 0, 3, 1, 4)
        )
        keys = torch.cat([keys, key], dim=2)
        values = torch.cat([values, value], dim=2)
        heads = x.view(batch, frames, self.num_heads, self.head_dim).transpose(1, 2)
        gates = attention.gru_rel_pos_linear(heads).view(batch, self.num_heads, frames, 2, 4)
        gate_a, gate_b = gates.sum(dim=-1).sigmoid().chunk(2, dim=-1)
        gate = gate_a * (gate_b * attention.gru_rel_pos_const - 1.0) + 2.0
        bias = (gate * position_bias + mask).to(query.dtype)
        output = nn.functional.scaled_dot_product_attention(query, keys, values, attn_mask=bias)
        output = attention.out_proj(output.transpose(1, 2).reshape(batch, frames, dim))
        size = keys.shape[2]
        return output, keys[:, :, size - self.cache_size :], values[:, :, size - self.cache_size :]


def _focal_convs(block: FocalBlock) -> List[Tuple[int, int]]:
    return [(block.modulation.dim, kernel - 1) for kernel in block.modulation.kernel_sizes]


def _focal_block_step(
    block: FocalBlock, x: Tensor, contexts: State, fresh: Union[Tensor, bool]
) -> Tuple[Tensor, State]:
    """One chunk through a causal focal block (``contexts``: one per focal level)."""
    modulation = block.modulation
    h = x if block.use_post_norm else block.modulation_norm(x)
    query, context, gates = modulation.in_proj(h).split(
        [modulation.dim, modulation.dim, modulation.focal_level + 1], dim=-1
    )
    aggregated = torch.zeros_like(query)
    new_contexts: State = []
    for level, (conv, activation) in enumerate(modulation.layers):
        if modulation.kernel_sizes[level] > 1:
            context, left = with_left_context(
                context, contexts[len(new_contexts)], fresh, "replicate"
            )
            new_contexts.append(left)
        context = activation(conv_frames(context, conv.weight, conv.bias, groups=conv.groups))
        aggregated = aggregated + context * gates[..., level : level + 1]
    if modulation.normalize_modulator:
        aggregated = aggregated / (modulation.focal_level + 1)
    proj = modulation.context_proj
    h = query * conv_frames(aggregated, proj.weight, proj.bias)
    h = modulation.dropout(modulation.out_proj(modulation.norm(h)))
    if block.use_post_norm:
        h = block.modulation_norm(h)
    if block.use_layerscale:
        h = h * block.modulation_gamma
    x = x + h
    if block.use_post_norm:
        h = block.feed_forward_norm(block.feed_forward(x))
    else:
        h = block.feed_forward(block.feed_forward_norm(x))
    if block.use_layerscale:
        h = h * block.feed_forward_gamma
    return x + h, new_contexts


class CompressorStream(_Stream):
    """Causal focal compressor, chunk by chunk: features -> (unnormalized) latents.

    Arguments
    ---------
    compressor : FocalCompressor
        A causal compressor.

    Example
    -------
    >>> compressor = FocalCompressor(16, 4, [8, 8], [1, 1], focal_window=3, causal=True,
    ...                              window_size=6).eval()
    >>> stream = CompressorStream(compressor)
    >>> feats, state = torch.randn(2, 12, 16), stream.initial_state(2)
    >>> first, state = stream(feats[:, :8], state)
    >>> second, state = stream(feats[:, 8:], state)
    >>> torch.allclose(torch.cat([first, second], dim=1), compressor(feats)[0], atol=1e-6)
    True
    """

    def __init__(self, compressor: FocalCompressor) -> None:
        super().__init__()
        if not compressor.causal:
            raise ValueError("Only a causal compressor can be streamed")
        self.compressor = compressor
        self._layers = []
        for layer in compressor.layers:
            convs = [(layer.downscale.downscale.in_channels, layer.downscale.kernel_size - 1)]
            self._layers.append(convs + _focal_convs(layer.focal_block))

    def forward(self, feats: Tensor, state: State) -> Tuple[Tensor, State]:
        """Compresses one chunk of features.

        Arguments
        ---------
        feats : torch.Tensor
            ``[batch, frames, input_dim]``.
        state : list of torch.Tensor
            State after the previous chunk.

        Returns
        -------
        lats : torch.Tensor
            ``[batch, frames / downsample_factor, output_dim]``.
        state : list of torch.Tensor
            State after this chunk.
        """
        step, fresh = state[0], fresh_streams(state[0])
        new_state: State = []
        x = feats
        for layer, contexts in zip(self.compressor.layers, self._contexts(state)):
            downscale = layer.downscale
            h = x
            if downscale.kernel_size > 1:
                h, context = with_left_context(h, contexts[0], fresh, "replicate")
                new_state.append(context)
                contexts = contexts[1:]
            conv = downscale.downscale
            x = downscale.activation(strided_conv(h, conv.weight, downscale.stride, conv.bias))
            x, contexts = _focal_block_step(layer.focal_block, x, contexts, fresh)
            new_state += contexts
        lats = self.compressor.out_proj(self.compressor.dropout(x))
        return lats, [step + feats.shape[1]] + new_state


class DecompressorStream(_Stream):
    """Causal focal decompressor, chunk by chunk: codes -> features.

    Chunks must hold a multiple of the refiner's chunk (``1 + lookahead``
    frames), except a stream's final chunk.

    Arguments
    ---------
    decompressor : FocalDecompressor
        A causal decompressor.

    Example
    -------
    >>> decompressor = FocalDecompressor(4, 16, [8, 8], [1, 1], focal_window=3, causal=True,
    ...                                  window_size=6, last_window_size=5).eval()
    >>> stream = DecompressorStream(decompressor)
    >>> codes, state = torch.randn(1, 10, 4), stream.initial_state(1)
    >>> first, state = stream(codes[:, :8], state)
    >>> last, state = stream(codes[:, 8:], state)
    >>> torch.allclose(torch.cat([first, last], dim=1), decompressor(codes)[0], atol=1e-6)
    True
    """

    def __init__(self, decompressor: FocalDecompressor) -> None:
        super().__init__()
        if not decompressor.causal:
            raise ValueError("Only a causal decompressor can be streamed")
        for layer in decompressor.layers:
            if layer.upscale.kernel_size != layer.upscale.stride:
                raise ValueError("Streaming needs up-scaling kernels equal to their strides")
        self.decompressor = decompressor
        self._layers = [_focal_convs(layer.focal_block) for layer in decompressor.layers]

    def forward(self, codes: Tensor, state: State) -> Tuple[Tensor, State]:
        """Decompresses one chunk of codes.

        Arguments
        ---------
        codes : torch.Tensor
            ``[batch, frames, input_dim]``.
        state : list of torch.Tensor
            State after the previous chunk.

        Returns
        -------
        qfeats : torch.Tensor
            ``[batch, frames * upsample_factor, output_dim]``.
        state : list of torch.Tensor
            State after this chunk.
        """
        step, fresh = state[0], fresh_streams(state[0])
        new_state: State = []
        x = self.decompressor.dropout(self.decompressor.in_proj(codes))
        for layer, contexts in zip(self.decompressor.layers, self._contexts(state)):
            x, contexts = _focal_block_step(layer.focal_block, x, contexts, fresh)
            new_state += contexts
            # Kernel == stride: each frame up-scales on its own, no context needed.
            x = layer.upscale(x)
        if self.decompressor.refiner is not None:
            x = self.decompressor.refiner(x)
        return x, [step + codes.shape[1]] + new_state


class DecoderStream(_Stream):
    """Causal Vocos or WaveNeXt decoder, chunk by chunk: features -> waveform.

    Arguments
    ---------
    decoder : Vocos or WaveNeXt
        A causal decoder.

    Example
    -------
    >>> decoder = WaveNeXt(16, num_layers=2, dim=8, ffn_dim=16, hop_length=24, causal=True).eval()
    >>> stream = DecoderStream(decoder)
    >>> feats, state = torch.randn(1, 9, 16), stream.initial_state(1)
    >>> first, state = stream(feats[:, :4], state)
    >>> last, state = stream(feats[:, 4:], state)
    >>> torch.allclose(torch.cat([first, last], dim=1), decoder(feats)[0], atol=1e-6)
    True
    """

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        if not isinstance(decoder, (Vocos, WaveNeXt)) or not decoder.causal:
            raise ValueError("Only a causal Vocos or WaveNeXt decoder can be streamed")
        self.decoder = decoder
        backbone: ConvNeXtBackbone = decoder.backbone
        self._layers = [
            [(backbone.embedding.in_channels, backbone.causal_pad)]
            + [(block.dwconv.in_channels, block.causal_pad) for block in backbone.layers]
        ]

    def forward(self, feats: Tensor, state: State) -> Tuple[Tensor, State]:
        """Synthesizes one chunk.

        Arguments
        ---------
        feats : torch.Tensor
            ``[batch, frames, input_dim]``.
        state : list of torch.Tensor
            State after the previous chunk.

        Returns
        -------
        sig : torch.Tensor
            ``[batch, frames * hop_length]``.
        state : list of torch.Tensor
            State after this chunk.
        """
        step, fresh = state[0], fresh_streams(state[0])
        backbone = self.decoder.backbone
        contexts = iter(self._contexts(state)[0])
        new_state: State = []

        def conv(h: Tensor, layer: nn.Conv1d) -> Tensor:
            if backbone.causal_pad > 0:
                h, context = with_left_context(h, next(contexts), fresh, backbone.pad_mode)
                new_state.append(context)
            return conv_frames(h, layer.weight, layer.bias, groups=layer.groups)

        h = backbone.input_norm(conv(feats, backbone.embedding))
        for block in backbone.layers:
            y = block.norm(conv(h, block.dwconv))
            y = linear(y, block.pwconv1.weight, block.pwconv1.bias, "gelu")
            h = h + block.gamma * block.pwconv2(y)
        sig = self.decoder.head(backbone.output_norm(h))
        return sig, [step + feats.shape[1]] + new_state
