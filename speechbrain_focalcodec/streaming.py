"""Streaming with the causal codecs (FocalCodec-Stream): stateful encoders and
decoders that turn audio into tokens and tokens into audio chunk by chunk.

``codec.stream_encoder(batch_size)`` and ``codec.stream_decoder(batch_size)``
build them. Every call takes a whole number of chunks (``chunk_size`` input
samples, i.e. ``tokens_per_chunk`` tokens; 80 ms for the official models) of
``batch_size`` independent streams, one per slot; ``flush`` takes the final,
possibly shorter, piece of the streams and resets them. The concatenated
outputs equal the offline transforms of the whole signal (``sig_to_toks``,
``toks_to_sig``), slot by slot.

* ``reset(slots)`` starts new streams in some slots while the others go on
  (a server batches live connections that join and leave at any chunk);
* ``warmup()`` (or ``warmup=True`` at creation) runs a few chunks on a
  scratch state, so that the first real chunk is not late;
* the streams follow their codec: after ``codec.to(device or dtype)`` the
  state moves along at the next call;
* a step never reads device values: which slots start a new stream is known
  on the host.

``EncoderStep`` and ``DecoderStep`` are the underlying pure functions
``(input, state) -> (output, state)`` whose state is a list of tensors; they
are what the ONNX export traces.

Authors
 * speechbrain-focalcodec developers 2026
"""

import operator
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.causal import Context, Fresh
from speechbrain_focalcodec.lobes.history import History
from speechbrain_focalcodec.lobes.streaming import (
    CompressorStream,
    DecoderStream,
    DecompressorStream,
    WavLMStream,
    split_state,
)
from speechbrain_focalcodec.ops.weight_cache import WeightStore, kept_weights

__all__ = ["DecoderStep", "EncoderStep", "StreamDecoder", "StreamEncoder"]

# Tensors, or (stream objects) contexts and caches held in ``History`` buffers.
State = List[Context]


def _check_causal(codec: nn.Module) -> None:
    if not codec.causal:
        raise ValueError(
            "Streaming needs a causal codec (FocalCodec-Stream, e.g. "
            "lucadellalib/focalcodec_50hz_4k_causal); this one is not causal: "
            "use the offline transforms, or speechbrain_focalcodec.long_audio for long inputs"
        )


class _Step(nn.Module):
    """Composition of lobe streams whose states are concatenated."""

    stream_names: Tuple[str, str]

    def state_names(self) -> List[str]:
        """Names of the state tensors, in order."""
        return [
            f"{prefix}.{name}"
            for prefix, stream in self._named_streams()
            for name, _ in stream.state_shapes()
        ]

    def placement(self) -> Tuple[torch.device, torch.dtype]:
        """Device and activation type of the codec now (read at every call).

        Returns
        -------
        device : torch.device
        dtype : torch.dtype
        """
        weight = self._activation_weight()
        return weight.device, weight.dtype

    def _activation_weight(self) -> Tensor:
        raise NotImplementedError

    def initial_state(self, batch_size: int, device: Optional[torch.device] = None) -> State:
        """State of ``batch_size`` fresh streams.

        Arguments
        ---------
        batch_size : int
            Number of independent streams.
        device : torch.device, optional
            Device of the state; the codec's by default.

        Returns
        -------
        state : list of torch.Tensor
        """
        codec_device, dtype = self.placement()
        device = codec_device if device is None else device
        state: State = []
        for _, stream in self._named_streams():
            state += stream.initial_state(batch_size, device, dtype)
        return state

    def _named_streams(self) -> List[Tuple[str, nn.Module]]:
        return [(name, getattr(self, name)) for name in self.stream_names]

    def _split_state(self, state: State) -> List[State]:
        sizes = [len(stream.state_shapes()) for _, stream in self._named_streams()]
        return split_state(state, sizes)


class EncoderStep(_Step):
    """One chunk of waveform -> tokens, with explicit state.

    Arguments
    ---------
    codec : FocalCodec
        A causal codec.
    """

    stream_names = ("encoder", "compressor")

    def __init__(self, codec: nn.Module) -> None:
        super().__init__()
        _check_causal(codec)
        self.encoder = WavLMStream(codec.encoder)
        self.compressor = CompressorStream(codec.compressor)
        self.quantizer = codec.quantizer

    def _activation_weight(self) -> Tensor:
        # As ``FocalCodec._dtype``: a normalization, float32 in the fast mode too.
        return self.encoder.encoder.norm.weight

    def forward(
        self, sig: Tensor, state: State, fresh: Optional[Fresh] = None
    ) -> Tuple[Tensor, State]:
        """Encodes a chunk.

        Arguments
        ---------
        sig : torch.Tensor
            ``[batch, samples]`` at the input rate.
        state : list of torch.Tensor or History
            State after the previous chunk.
        fresh : bool or torch.Tensor, optional
            Streams that start with this chunk (one value for all, or a
            ``[batch]`` bool tensor); None: those whose ``step`` counter is 0
            (what exported graphs do).

        Returns
        -------
        toks : torch.Tensor
            ``[batch, tokens]`` int64.
        state : list of torch.Tensor or History
            State after this chunk.
        """
        encoder_state, compressor_state = self._split_state(state)
        feats, encoder_state = self.encoder(sig, encoder_state, fresh)
        lats, compressor_state = self.compressor(feats, compressor_state, fresh)
        return self.quantizer.lats_to_toks(lats), encoder_state + compressor_state


class DecoderStep(_Step):
    """One chunk of tokens -> waveform, with explicit state.

    Arguments
    ---------
    codec : FocalCodec
        A causal codec.
    converter : callable, optional
        Applied to the decompressed features of each chunk before the decoder
        (frame-wise voice conversion, see ``voice_conversion``).
    """

    stream_names = ("decompressor", "decoder")

    def __init__(self, codec: nn.Module, converter: Optional[Callable] = None) -> None:
        super().__init__()
        _check_causal(codec)
        self.decompressor = DecompressorStream(codec.decompressor)
        self.decoder = DecoderStream(codec.decoder)
        self.quantizer = codec.quantizer
        self.converter = converter

    def _activation_weight(self) -> Tensor:
        return self.decoder.decoder.backbone.input_norm.weight

    def forward(
        self, toks: Tensor, state: State, fresh: Optional[Fresh] = None
    ) -> Tuple[Tensor, State]:
        """Decodes a chunk.

        Arguments
        ---------
        toks : torch.Tensor
            ``[batch, tokens]`` integers in ``[0, codebook_size)``.
        state : list of torch.Tensor or History
            State after the previous chunk.
        fresh : bool or torch.Tensor, optional
            Streams that start with this chunk (see ``EncoderStep``).

        Returns
        -------
        sig : torch.Tensor
            ``[batch, tokens * samples_per_token]`` at the output rate.
        state : list of torch.Tensor or History
            State after this chunk.
        """
        decompressor_state, decoder_state = self._split_state(state)
        codes = nn.functional.embedding(toks, self.quantizer.codes)
        codes = codes.to(self._activation_weight().dtype)
        qfeats, decompressor_state = self.decompressor(codes, decompressor_state, fresh)
        if self.converter is not None:
            qfeats = self.converter(qfeats)
        sig, decoder_state = self.decoder(qfeats, decoder_state, fresh)
        return sig, decompressor_state + decoder_state


Slots = Union[int, Sequence[int], Sequence[bool], Tensor]


class _StreamBase:
    """Batch of independent streams (slots) around a step function."""

    _what: str

    def __init__(self, step: _Step, batch_size: int, unit: int, warmup: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
        self.step = step
        self.batch_size = batch_size
        self._unit = unit
        self._placement = step.placement()  # where the state is
        self.state = self._initial_state(self._placement[0])
        # Derived copies of the weights (backend layouts) for the few-frame products of
        # a chunk, kept while the stream lives; ``reset()`` drops them (call it after
        # editing the codec's weights in place through ``.data``).
        self.weights = WeightStore()
        # Which slots start a stream with the next chunk, kept on the host so
        # that a step never reads the device's counters: one value for all
        # slots, or one per slot.
        self._fresh: Union[bool, List[bool]] = True
        if warmup:
            self.warmup()

    def reset(self, slots: Optional[Slots] = None) -> None:
        """Starts new streams in every slot, or only in ``slots`` (the others go on).

        Arguments
        ---------
        slots : int, sequence of int, sequence of bool or torch.Tensor, optional
            Slot indices, or a ``[batch_size]`` bool mask of the slots to
            restart; None restarts them all and drops the kept derived weights.
        """
        if slots is None:
            self._restart()
            self.weights.clear()
            return
        indices = self._indices(slots)
        if not indices:
            return
        fresh = [self._fresh] * self.batch_size if isinstance(self._fresh, bool) else self._fresh
        fresh = list(fresh)
        for index in indices:
            fresh[index] = True
        self._fresh = True if all(fresh) else fresh
        rows = torch.tensor(indices, device=self.state[0].device)
        for index, item in enumerate(self.state):  # contexts, caches and step counters
            if isinstance(item, History):
                item.frames.index_fill_(0, rows, 0)
            else:
                self.state[index] = item.index_fill(0, rows, 0)

    def _restart(self) -> None:
        self._placement = self.step.placement()
        self.state = self._initial_state(self._placement[0])
        self._fresh = True

    def _initial_state(self, device: torch.device) -> State:
        """The state of fresh streams with every left context and attention cache
        in a ``History``: the step then appends each chunk's frames in place
        instead of copying the contexts and caches into new tensors (see
        ``lobes/history.py``)."""
        state = self.step.initial_state(self.batch_size, device)
        names = self.step.state_names()
        count = sum(name.split(".")[1] != "step" for name in names)
        held: State = []
        index = 0  # of the history: starts spread over the room, copies at different chunks
        for name, tensor in zip(names, state):
            kind = name.split(".")[1]
            if kind not in ("keys", "values", "context"):
                held.append(tensor)
                continue
            # [batch, heads, frames, head_dim] caches, [batch, frames, channels] contexts
            dim = 2 if kind != "context" else 1
            room = History.default_room(tensor.shape[dim])
            held.append(History(tensor, dim, room, room * index // count))
            index += 1
        return held

    def _indices(self, slots: Slots) -> List[int]:
        """Slot indices from an index, indices or a bool mask; clear errors otherwise."""
        if not isinstance(slots, (Tensor, list, tuple, range, int)) and hasattr(slots, "__array__"):
            slots = torch.as_tensor(slots)  # NumPy arrays and scalars
        if isinstance(slots, Tensor):
            if slots.dtype == torch.bool:
                slots = slots.reshape(-1).tolist()
            elif not slots.is_floating_point() and slots.ndim <= 1:
                slots = slots.reshape(-1).tolist()
            else:
                raise TypeError(f"`slots` must be indices or a bool mask, got {slots.dtype}")
        if isinstance(slots, bool):
            raise TypeError("`slots` must be indices or a bool mask, got a single bool")
        if isinstance(slots, int):
            slots = [slots]
        if not isinstance(slots, (list, tuple, range)):
            raise TypeError(f"`slots` must be indices or a bool mask, got {slots!r}")
        slots = list(slots)
        if slots and all(isinstance(item, bool) for item in slots):
            if len(slots) != self.batch_size:
                raise ValueError(
                    f"a bool mask of `slots` must have {self.batch_size} values, got {len(slots)}"
                )
            return [index for index, item in enumerate(slots) if item]
        indices = []
        for index in slots:
            if isinstance(index, bool) or not hasattr(index, "__index__"):
                raise TypeError(f"`slots` must be indices or a bool mask, got {slots!r}")
            index = operator.index(index)
            if not 0 <= index < self.batch_size:
                raise IndexError(f"stream index {index} out of range [0, {self.batch_size})")
            indices.append(index)
        return sorted(set(indices))

    def warmup(self, chunks: int = 3) -> "_StreamBase":
        """Runs chunks of silence through a scratch state, leaving the streams as they are.

        The first chunks through a model pay one-off costs (kept derived
        weights, memory pools, lazy initialization); after this, the first
        real chunk takes the steady-state time. A stream's first chunk, a
        later one and a mix of both (``reset(slots)``) take different
        paths: each runs once.

        Arguments
        ---------
        chunks : int
            Chunks to run (at least 1).

        Returns
        -------
        stream : the stream itself, warmed up
        """
        device, _ = self.step.placement()
        state = self._initial_state(device)
        x = self._silence(device)
        mixed = torch.arange(self.batch_size, device=device) % 2 == 0
        with torch.no_grad(), kept_weights(self.weights):
            for index in range(max(1, chunks)):
                fresh = (True, False, mixed)[min(index, 2)]
                _, state = self.step(x, state, fresh)
        return self

    def _follow_codec(self) -> torch.device:
        """Moves the state to the codec's device and dtype if the codec moved."""
        placement = self.step.placement()
        if placement != self._placement:
            device, dtype = placement
            self.state = [
                item.to(device, dtype) if isinstance(item, History) else item.to(device)
                for item in self.state
            ]
            self._placement = placement
        return placement[0]

    def _run(self, x: Tensor, final: bool) -> Tensor:
        if not final and x.shape[1] % self._unit != 0:
            raise ValueError(
                f"a chunk must hold a multiple of {self._unit} {self._what} per stream, got "
                f"{x.shape[1]} (pass the last, shorter piece of a stream to flush())"
            )
        device = self._follow_codec()
        fresh = self._fresh
        if not isinstance(fresh, bool):
            fresh = torch.tensor(fresh, device=device)
        # The histories advance in place during the step: if it fails midway
        # (a converter raising, out of memory, an interrupt), every one goes
        # back to where it was, so that the chunk can be given again.
        saved = [(item, item.snapshot()) for item in self.state if isinstance(item, History)]
        try:
            with torch.no_grad(), kept_weights(self.weights):
                y, self.state = self.step(x.to(device), self.state, fresh)
        except BaseException:
            for history, snapshot in saved:
                history.restore(snapshot)
            raise
        self._fresh = False
        if final:
            self._restart()  # the kept weights stay for the next streams
        return y

    def _silence(self, device: torch.device) -> Tensor:
        raise NotImplementedError


class StreamEncoder(_StreamBase):
    """Stateful streaming encoder: waveform chunks -> tokens.

    Arguments
    ---------
    codec : FocalCodec
        A causal codec.
    batch_size : int
        Number of independent streams (slots) processed together.
    warmup : bool
        Run ``warmup()`` now.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("causal")
    >>> enc = codec.stream_encoder(batch_size=2)
    >>> sig = torch.randn(2, 3 * codec.chunk_size)
    >>> toks = torch.cat([enc(chunk) for chunk in sig.split(codec.chunk_size, dim=1)], dim=1)
    >>> toks.shape, torch.equal(toks, codec.sig_to_toks(sig))
    (torch.Size([2, 12]), True)
    >>> enc.reset(1)  # a new stream in slot 1, slot 0 goes on
    """

    _what = "samples"

    def __init__(self, codec: nn.Module, batch_size: int = 1, warmup: bool = False) -> None:
        self.codec = codec
        self.chunk_size = codec.chunk_size
        self.tokens_per_chunk = codec.chunk_size // codec.samples_per_token
        super().__init__(EncoderStep(codec), batch_size, self.chunk_size, warmup)

    def __call__(self, sig: Tensor) -> Tensor:
        """Encodes the next chunk(s) of every stream.

        Arguments
        ---------
        sig : torch.Tensor
            ``[batch_size, k * chunk_size]`` samples at ``sample_rate_input``.

        Returns
        -------
        toks : torch.Tensor
            ``[batch_size, k * tokens_per_chunk]`` int64.
        """
        return self._run(self._check(sig), final=False)

    def flush(self, sig: Tensor) -> Tensor:
        """Encodes the final piece of the streams (any length) and resets them.

        Arguments
        ---------
        sig : torch.Tensor
            ``[batch_size, samples]``, ``samples >= 1``.

        Returns
        -------
        toks : torch.Tensor
            The tokens that ``sig_to_toks`` gives for that tail.
        """
        return self._run(self._check(sig), final=True)

    def _check(self, sig: Tensor) -> Tensor:
        return self.codec._check_sig(_check_batch(sig, self.batch_size, "sig"), None)

    def _silence(self, device: torch.device) -> Tensor:
        _, dtype = self.step.placement()
        return torch.zeros(self.batch_size, self.chunk_size, device=device, dtype=dtype)


class StreamDecoder(_StreamBase):
    """Stateful streaming decoder: token chunks -> waveform.

    Arguments
    ---------
    codec : FocalCodec
        A causal codec.
    batch_size : int
        Number of independent streams (slots) processed together.
    converter : callable, optional
        Frame-wise transform of the decompressed features (voice conversion,
        see ``speechbrain_focalcodec.voice_conversion``).
    warmup : bool
        Run ``warmup()`` now.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("causal")
    >>> dec = codec.stream_decoder(batch_size=1, warmup=True)
    >>> toks = torch.randint(0, codec.codebook_size, (1, 8))
    >>> sig = torch.cat([dec(toks[:, :4]), dec(toks[:, 4:])], dim=1)
    >>> sig.shape, torch.allclose(sig, codec.toks_to_sig(toks), atol=1e-5)
    (torch.Size([1, 3840]), True)
    """

    _what = "tokens"

    def __init__(
        self,
        codec: nn.Module,
        batch_size: int = 1,
        converter: Optional[Callable] = None,
        warmup: bool = False,
    ) -> None:
        self.codec = codec
        self.tokens_per_chunk = codec.chunk_size // codec.samples_per_token
        step = DecoderStep(codec, converter)
        super().__init__(step, batch_size, self.tokens_per_chunk, warmup)

    def __call__(self, toks: Tensor) -> Tensor:
        """Decodes the next chunk(s) of tokens of every stream.

        Arguments
        ---------
        toks : torch.Tensor
            ``[batch_size, k * tokens_per_chunk]`` integers.

        Returns
        -------
        sig : torch.Tensor
            ``[batch_size, k * tokens_per_chunk * hop]`` at ``sample_rate_output``.
        """
        return self._run(self._check(toks), final=False)

    def flush(self, toks: Tensor) -> Tensor:
        """Decodes the final tokens of the streams (any count) and resets them.

        Arguments
        ---------
        toks : torch.Tensor
            ``[batch_size, tokens]``.

        Returns
        -------
        sig : torch.Tensor
            What ``toks_to_sig`` gives for these last tokens.
        """
        return self._run(self._check(toks), final=True)

    def _check(self, toks: Tensor) -> Tensor:
        return self.codec._check_toks(_check_batch(toks, self.batch_size, "toks"), None)

    def _silence(self, device: torch.device) -> Tensor:
        shape = (self.batch_size, self.tokens_per_chunk)
        return torch.zeros(shape, dtype=torch.long, device=device)


def _check_batch(x: Tensor, batch_size: int, name: str) -> Tensor:
    if isinstance(x, Tensor) and x.ndim == 2 and x.shape[0] != batch_size:
        raise ValueError(
            f"`{name}` must have shape [{batch_size}, ...] (one row per stream), "
            f"got {list(x.shape)}"
        )
    return x
