"""Streaming with the causal codecs (FocalCodec-Stream): stateful encoders and
decoders that turn audio into tokens and tokens into audio chunk by chunk.

``codec.stream_encoder(batch_size)`` and ``codec.stream_decoder(batch_size)``
build them. Every call takes a whole number of chunks (``chunk_size`` input
samples, i.e. ``tokens_per_chunk`` tokens; 80 ms for the official models) of
``batch_size`` independent streams; ``flush`` takes the final, possibly
shorter, piece of the streams and resets them. The concatenated outputs equal
the offline transforms of the whole signal (``sig_to_toks``, ``toks_to_sig``).

``EncoderStep`` and ``DecoderStep`` are the underlying pure functions
``(input, state) -> (output, state)`` whose state is a list of tensors; they
are what the ONNX export traces.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Callable, List, Optional, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.streaming import (
    CompressorStream,
    DecoderStream,
    DecompressorStream,
    WavLMStream,
    split_state,
)

__all__ = ["DecoderStep", "EncoderStep", "StreamDecoder", "StreamEncoder"]

State = List[Tensor]


def _check_causal(codec: nn.Module) -> None:
    if not codec.causal:
        raise ValueError(
            "Streaming needs a causal codec (FocalCodec-Stream, e.g. "
            "lucadellalib/focalcodec_50hz_4k_causal); this one is not causal: "
            "use the offline transforms, or speechbrain_focalcodec.long_audio for long inputs"
        )


class _Step(nn.Module):
    """Composition of lobe streams whose states are concatenated."""

    streams: List[nn.Module]

    def state_names(self) -> List[str]:
        """Names of the state tensors, in order."""
        return [
            f"{prefix}.{name}"
            for prefix, stream in self._named_streams()
            for name, _ in stream.state_shapes()
        ]

    def initial_state(self, batch_size: int, device: Optional[torch.device] = None) -> State:
        """State of ``batch_size`` fresh streams.

        Arguments
        ---------
        batch_size : int
            Number of independent streams.
        device : torch.device, optional
            Device of the state.

        Returns
        -------
        state : list of torch.Tensor
        """
        state: State = []
        for _, stream in self._named_streams():
            state += stream.initial_state(batch_size, device, self._dtype)
        return state

    def _named_streams(self) -> List[Tuple[str, nn.Module]]:
        return list(self.named_children())

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

    def __init__(self, codec: nn.Module) -> None:
        super().__init__()
        _check_causal(codec)
        self.encoder = WavLMStream(codec.encoder)
        self.compressor = CompressorStream(codec.compressor)
        self.register_buffer("bit_weights", codec.quantizer.mask.clone(), persistent=False)
        self._dtype = codec.decompressor.in_proj.weight.dtype

    def forward(self, sig: Tensor, state: State) -> Tuple[Tensor, State]:
        """Encodes a chunk.

        Arguments
        ---------
        sig : torch.Tensor
            ``[batch, samples]`` at the input rate.
        state : list of torch.Tensor
            State after the previous chunk.

        Returns
        -------
        toks : torch.Tensor
            ``[batch, tokens]`` int64.
        state : list of torch.Tensor
            State after this chunk.
        """
        encoder_state, compressor_state = self._split_state(state)
        feats, encoder_state = self.encoder(sig, encoder_state)
        lats, compressor_state = self.compressor(feats, compressor_state)
        toks = ((lats > 0).long() * self.bit_weights).sum(dim=-1)
        return toks, encoder_state + compressor_state


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

    def __init__(self, codec: nn.Module, converter: Optional[Callable] = None) -> None:
        super().__init__()
        _check_causal(codec)
        self.decompressor = DecompressorStream(codec.decompressor)
        self.decoder = DecoderStream(codec.decoder)
        self.register_buffer("codebook", codec.codebook.clone(), persistent=False)
        self.converter = converter
        self._dtype = codec.decompressor.in_proj.weight.dtype

    def _named_streams(self) -> List[Tuple[str, nn.Module]]:
        return [("decompressor", self.decompressor), ("decoder", self.decoder)]

    def forward(self, toks: Tensor, state: State) -> Tuple[Tensor, State]:
        """Decodes a chunk.

        Arguments
        ---------
        toks : torch.Tensor
            ``[batch, tokens]`` integers in ``[0, codebook_size)``.
        state : list of torch.Tensor
            State after the previous chunk.

        Returns
        -------
        sig : torch.Tensor
            ``[batch, tokens * samples_per_token]`` at the output rate.
        state : list of torch.Tensor
            State after this chunk.
        """
        decompressor_state, decoder_state = self._split_state(state)
        codes = nn.functional.embedding(toks, self.codebook).to(self._dtype)
        qfeats, decompressor_state = self.decompressor(codes, decompressor_state)
        if self.converter is not None:
            qfeats = self.converter(qfeats)
        sig, decoder_state = self.decoder(qfeats, decoder_state)
        return sig, decompressor_state + decoder_state


class _StreamBase:
    """Batch of independent streams around a step function."""

    def __init__(self, step: _Step, batch_size: int, unit: int, device: torch.device) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
        self.step = step
        self.batch_size = batch_size
        self._unit = unit
        self._device = device
        self.state = step.initial_state(batch_size, device)

    def reset(self, index: Optional[int] = None) -> None:
        """Restarts every stream, or only stream ``index``.

        Arguments
        ---------
        index : int, optional
            Stream to restart (the others go on); None restarts them all.
        """
        if index is None:
            self.state = self.step.initial_state(self.batch_size, self._device)
            return
        if not 0 <= index < self.batch_size:
            raise IndexError(f"stream index {index} out of range [0, {self.batch_size})")
        for tensor in self.state:
            tensor[index] = 0

    def _run(self, x: Tensor, final: bool) -> Tensor:
        if not final and x.shape[1] % self._unit != 0:
            raise ValueError(
                f"a chunk must hold a multiple of {self._unit} {self._what} per stream, got "
                f"{x.shape[1]} (pass the last, shorter piece of a stream to flush())"
            )
        with torch.no_grad():
            y, self.state = self.step(x.to(self._device), self.state)
        if final:
            self.reset()
        return y


class StreamEncoder(_StreamBase):
    """Stateful streaming encoder: waveform chunks -> tokens.

    Arguments
    ---------
    codec : FocalCodec
        A causal codec.
    batch_size : int
        Number of independent streams processed together.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("causal")
    >>> enc = codec.stream_encoder(batch_size=2)
    >>> sig = torch.randn(2, 3 * codec.chunk_size)
    >>> toks = torch.cat([enc(chunk) for chunk in sig.split(codec.chunk_size, dim=1)], dim=1)
    >>> toks.shape, torch.equal(toks, codec.sig_to_toks(sig))
    (torch.Size([2, 12]), True)
    """

    _what = "samples"

    def __init__(self, codec: nn.Module, batch_size: int = 1) -> None:
        self.codec = codec
        self.chunk_size = codec.chunk_size
        self.tokens_per_chunk = codec.chunk_size // codec.samples_per_token
        device = codec.codebook.device
        super().__init__(EncoderStep(codec), batch_size, self.chunk_size, device)

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


class StreamDecoder(_StreamBase):
    """Stateful streaming decoder: token chunks -> waveform.

    Arguments
    ---------
    codec : FocalCodec
        A causal codec.
    batch_size : int
        Number of independent streams processed together.
    converter : callable, optional
        Frame-wise transform of the decompressed features (voice conversion,
        see ``speechbrain_focalcodec.voice_conversion``).

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("causal")
    >>> dec = codec.stream_decoder(batch_size=1)
    >>> toks = torch.randint(0, codec.codebook_size, (1, 8))
    >>> sig = torch.cat([dec(toks[:, :4]), dec(toks[:, 4:])], dim=1)
    >>> sig.shape, torch.allclose(sig, codec.toks_to_sig(toks), atol=1e-5)
    (torch.Size([1, 3840]), True)
    """

    _what = "tokens"

    def __init__(
        self, codec: nn.Module, batch_size: int = 1, converter: Optional[Callable] = None
    ) -> None:
        self.codec = codec
        self.tokens_per_chunk = codec.chunk_size // codec.samples_per_token
        device = codec.codebook.device
        step = DecoderStep(codec, converter)
        super().__init__(step, batch_size, self.tokens_per_chunk, device)

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


def _check_batch(x: Tensor, batch_size: int, name: str) -> Tensor:
    if isinstance(x, Tensor) and x.ndim == 2 and x.shape[0] != batch_size:
        raise ValueError(
            f"`{name}` must have shape [{batch_size}, ...] (one row per stream), "
            f"got {list(x.shape)}"
        )
    return x
