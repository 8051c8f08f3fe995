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

These modules only orchestrate the state: every block computes a chunk with
its own ``step`` (explicit left contexts and caches in, new ones out), the
same function its offline ``forward`` calls from the start of a sequence, so
streaming and offline processing cannot diverge. Which streams start with a
chunk is given by the caller (``fresh``, known on the host) or read from the
``step`` counters as a device mask: a step never reads device values.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.causal import Context, Fresh
from speechbrain_focalcodec.lobes.compressor import FocalCompressor
from speechbrain_focalcodec.lobes.decompressor import FocalDecompressor
from speechbrain_focalcodec.lobes.vocos import Vocos
from speechbrain_focalcodec.lobes.wavenext import WaveNeXt
from speechbrain_focalcodec.lobes.wavlm import WavLM

__all__ = [
    "CompressorStream",
    "DecoderStream",
    "DecompressorStream",
    "WavLMStream",
    "split_state",
]

# Tensors, or the ``History`` buffers that the stream objects hold instead.
State = List[Context]
Shape = Tuple[str, Tuple[int, ...]]


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

    ``_layers`` lists, per layer, the blocks whose ``step`` takes left
    contexts (see their ``context_shapes``); the contexts follow the ``step``
    counter in the state.
    """

    _layers: List[List[nn.Module]]

    def state_shapes(self) -> List[Shape]:
        """Names and per-item shapes (batch axis omitted) of the state tensors."""
        shapes: List[Shape] = [("step", ())]
        for i, blocks in enumerate(self._layers):
            prefix = "context" if len(self._layers) == 1 else f"context.{i}"
            convs = [shape for block in blocks for shape in block.context_shapes()]
            shapes += [(f"{prefix}.{j}", shape) for j, shape in enumerate(convs)]
        return shapes

    def _sizes(self) -> List[List[int]]:
        """Contexts per block of each layer (fixed by the configuration, kept)."""
        sizes = self.__dict__.get("_context_sizes")
        if sizes is None:
            sizes = [[len(block.context_shapes()) for block in blocks] for blocks in self._layers]
            self.__dict__["_context_sizes"] = sizes
        return sizes

    def _contexts(self, state: State) -> List[List[State]]:
        """The contexts of each block of each layer, from a state."""
        layers, start = [], 1
        for sizes in self._sizes():
            layers.append(split_state(state[start : start + sum(sizes)], sizes))
            start += sum(sizes)
        return layers

    def _num_contexts(self) -> int:
        return sum(sum(sizes) for sizes in self._sizes())

    @staticmethod
    def _fresh(step: Tensor, fresh: Optional[Fresh]) -> Fresh:
        """``fresh`` as given, else the streams whose counter is 0 (a device mask)."""
        return step == 0 if fresh is None else fresh

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
        self._layers = [list(encoder.feature_extractor.layers) + [transformer.positional_embedding]]

    def state_shapes(self) -> List[Shape]:
        """Names and per-item shapes of the state tensors."""
        transformer = self.encoder.encoder
        attention = transformer.layers[0].attention
        cache = (attention.num_heads, transformer.cache_size, attention.head_dim)
        layers = range(len(transformer.layers))
        caches = [(f"{kind}.{i}", cache) for i in layers for kind in ("keys", "values")]
        return super().state_shapes() + caches

    def forward(
        self, sig: Tensor, state: State, fresh: Optional[Fresh] = None
    ) -> Tuple[Tensor, State]:
        """Encodes one chunk.

        Arguments
        ---------
        sig : torch.Tensor
            Waveform chunk, ``[batch, samples]``, a multiple of
            ``downsample_factor`` samples (except for a final chunk).
        state : list of torch.Tensor or History
            State after the previous chunk.
        fresh : bool or torch.Tensor, optional
            Streams that start with this chunk; None: those whose ``step``
            counter is 0.

        Returns
        -------
        feats : torch.Tensor
            ``[batch, frames, dim]``.
        state : list of torch.Tensor or History
            State after this chunk.
        """
        step = state[0]
        fresh = self._fresh(step, fresh)
        contexts = self._contexts(state)[0]
        new_state: State = []
        x = sig[..., None]
        for block, context in zip(self.encoder.feature_extractor.layers, contexts):
            x, context = block.step(x, context, fresh)
            new_state += context
        x = self.encoder.dropout(self.encoder.feature_proj(self.encoder.norm(x)))
        caches = state[1 + self._num_contexts() :]
        x, context, caches = self.encoder.encoder.step(x, contexts[-1], caches, step, fresh)
        return x, [step + x.shape[1]] + new_state + context + caches


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
        self._layers = [[layer.downscale, layer.focal_block] for layer in compressor.layers]

    def forward(
        self, feats: Tensor, state: State, fresh: Optional[Fresh] = None
    ) -> Tuple[Tensor, State]:
        """Compresses one chunk of features.

        Arguments
        ---------
        feats : torch.Tensor
            ``[batch, frames, input_dim]``.
        state : list of torch.Tensor or History
            State after the previous chunk.
        fresh : bool or torch.Tensor, optional
            Streams that start with this chunk (see ``WavLMStream``).

        Returns
        -------
        lats : torch.Tensor
            ``[batch, frames / downsample_factor, output_dim]``.
        state : list of torch.Tensor or History
            State after this chunk.
        """
        step = state[0]
        fresh = self._fresh(step, fresh)
        new_state: State = []
        x = feats
        for blocks, contexts in zip(self._layers, self._contexts(state)):
            for block, context in zip(blocks, contexts):
                x, context = block.step(x, context, fresh)
                new_state += context
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
        self._layers = [[layer.focal_block] for layer in decompressor.layers]

    def forward(
        self, codes: Tensor, state: State, fresh: Optional[Fresh] = None
    ) -> Tuple[Tensor, State]:
        """Decompresses one chunk of codes.

        Arguments
        ---------
        codes : torch.Tensor
            ``[batch, frames, input_dim]``.
        state : list of torch.Tensor or History
            State after the previous chunk.
        fresh : bool or torch.Tensor, optional
            Streams that start with this chunk (see ``WavLMStream``).

        Returns
        -------
        qfeats : torch.Tensor
            ``[batch, frames * upsample_factor, output_dim]``.
        state : list of torch.Tensor or History
            State after this chunk.
        """
        step = state[0]
        fresh = self._fresh(step, fresh)
        new_state: State = []
        x = self.decompressor.dropout(self.decompressor.in_proj(codes))
        for layer, contexts in zip(self.decompressor.layers, self._contexts(state)):
            x, context = layer.focal_block.step(x, contexts[0], fresh)
            new_state += context
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
        self._layers = [[decoder]]

    def forward(
        self, feats: Tensor, state: State, fresh: Optional[Fresh] = None
    ) -> Tuple[Tensor, State]:
        """Synthesizes one chunk.

        Arguments
        ---------
        feats : torch.Tensor
            ``[batch, frames, input_dim]``.
        state : list of torch.Tensor or History
            State after the previous chunk.
        fresh : bool or torch.Tensor, optional
            Streams that start with this chunk (see ``WavLMStream``).

        Returns
        -------
        sig : torch.Tensor
            ``[batch, frames * hop_length]``.
        state : list of torch.Tensor or History
            State after this chunk.
        """
        step = state[0]
        sig, contexts = self.decoder.step(feats, state[1:], self._fresh(step, fresh))
        return sig, [step + feats.shape[1]] + contexts
