"""Encoding and decoding audio of any length in time linear in its length and
constant memory.

Causal codecs are simply streamed (``StreamEncoder`` / ``StreamDecoder``,
many chunks per call): the result equals whole-utterance processing.

Offline codecs attend over the whole utterance and average their focal
context over it, so their cost is quadratic and their memory grows with the
length (the official implementation needs 12 GB for 180 s). Here a long
input is cut into segments of ``segment`` seconds; each is processed with
``context`` seconds of audio (or tokens) on both sides, and only its own
tokens (or samples) are kept; decoded segments are cross-faded over
``crossfade`` tokens around each boundary. Inputs no longer than
``segment + 2 * context`` are processed whole, exactly as ``sig_to_toks``
and ``toks_to_sig`` would. See ``docs/streaming.md`` for the measured effect
of segmenting on the tokens.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Callable, Iterator, Optional

import torch
from torch import Tensor, nn

__all__ = [
    "decode_long",
    "encode_batch_long",
    "encode_long",
    "is_long",
    "iter_decode",
    "iter_encode",
]

Reader = Callable[[int, int], Tensor]


def _num_tokens(codec: nn.Module, num_samples: int) -> int:
    frames = codec.encoder.num_output_frames(torch.tensor([num_samples]))
    return int(codec.compressor.num_output_frames(frames)[0])


def _check_segments(segment: float, context: float) -> None:
    if not segment > 0 or not context >= 0:
        raise ValueError(f"`segment` must be > 0 and `context` >= 0, got {segment} and {context}")


@torch.no_grad()
def iter_encode(
    codec: nn.Module,
    read: Reader,
    num_samples: int,
    segment: float = 20.0,
    context: float = 5.0,
    max_whole: Optional[float] = None,
) -> Iterator[Tensor]:
    """Tokens of a long waveform, segment after segment.

    Arguments
    ---------
    codec : FocalCodec
        The codec.
    read : callable
        ``read(start, stop)`` returns samples ``[start, stop)`` of the input
        at ``codec.sample_rate_input`` (e.g. ``AudioFileReader.read``).
    num_samples : int
        Length of the input.
    segment : float
        Seconds of input per step.
    context : float
        Seconds of context on each side of a segment (offline codecs).
    max_whole : float, optional
        Offline inputs up to this many seconds are encoded in one piece
        (default: ``segment + 2 * context``).

    Yields
    ------
    toks : torch.Tensor
        ``[1, n]`` consecutive tokens; all of them together are the
        utterance's tokens.
    """
    _check_segments(segment, context)
    if num_samples < 1:
        raise ValueError("the input is empty")
    if codec.causal:
        encoder = codec.stream_encoder()
        step = max(1, round(segment * codec.sample_rate_input / codec.chunk_size))
        step *= codec.chunk_size
        full = num_samples // step * step
        for start in range(0, full, step):
            yield encoder(read(start, start + step)[None])
        if full < num_samples:
            yield encoder.flush(read(full, num_samples)[None])
        return
    per_token = codec.samples_per_token
    seg = max(1, round(segment * codec.token_rate))
    ctx = round(context * codec.token_rate)
    total = _num_tokens(codec, num_samples)
    if total <= _whole_tokens(codec, seg, ctx, max_whole):
        yield codec.sig_to_toks(read(0, num_samples)[None])
        return
    for first in range(0, total, seg):
        last = min(first + seg, total)
        start = max(0, first - ctx) * per_token
        # One more token on the right: a frame reaches past its hop.
        stop = min(num_samples, (last + ctx + 1) * per_token)
        toks = codec.sig_to_toks(read(start, stop)[None])
        offset = start // per_token
        yield toks[:, first - offset : last - offset]


@torch.no_grad()
def iter_decode(
    codec: nn.Module,
    toks: Tensor,
    segment: float = 20.0,
    context: float = 5.0,
    crossfade: int = 2,
    converter: Optional[Callable[[Tensor], Tensor]] = None,
    max_whole: Optional[float] = None,
) -> Iterator[Tensor]:
    """Waveform of a long token sequence, piece after piece.

    Arguments
    ---------
    codec : FocalCodec
        The codec.
    toks : torch.Tensor
        ``[1, N]`` tokens.
    segment : float
        Seconds of tokens per step.
    context : float
        Seconds of tokens of context on each side of a segment (offline
        codecs).
    crossfade : int
        Tokens cross-faded around each segment boundary (offline codecs; at
        most the context).
    converter : callable, optional
        Frame-wise transform of the decompressed features (voice conversion).
    max_whole : float, optional
        Offline token sequences up to this many seconds are decoded in one
        piece (default: ``segment + 2 * context``).

    Yields
    ------
    sig : torch.Tensor
        ``[n]`` consecutive samples at ``codec.sample_rate_output``.
    """
    _check_segments(segment, context)
    toks = codec._check_toks(toks, None)
    if toks.shape[0] != 1:
        raise ValueError(f"decode one utterance at a time, got a batch of {toks.shape[0]}")
    total = toks.shape[1]
    if codec.causal:
        decoder = codec.stream_decoder(converter=converter)
        step = decoder.tokens_per_chunk * max(1, round(segment * codec.token_rate / 4))
        full = total // step * step
        for start in range(0, full, step):
            yield decoder(toks[:, start : start + step])[0]
        if full < total:
            yield decoder.flush(toks[:, full:])[0]
        return

    def decode(part: Tensor) -> Tensor:
        qfeats = codec.toks_to_qfeats(part)
        if converter is not None:
            qfeats = converter(qfeats)
        return codec.feats_to_sig(qfeats)[0]

    seg = max(1, round(segment * codec.token_rate))
    ctx = round(context * codec.token_rate)
    if total <= _whole_tokens(codec, seg, ctx, max_whole):
        yield decode(toks)
        return
    fade = max(0, min(crossfade, ctx, seg // 2))
    hop = codec.sample_rate_output * codec.samples_per_token // codec.sample_rate_input
    width = 2 * fade * hop
    ramp = (torch.arange(width, dtype=torch.float32) + 0.5) / max(1, width)
    firsts = list(range(0, total, seg))
    if total - firsts[-1] < fade:  # a last segment shorter than the fade joins the previous
        firsts.pop()
    tail: Optional[Tensor] = None
    for first, last in zip(firsts, firsts[1:] + [total]):
        start, stop = max(0, first - ctx), min(total, last + ctx)
        sig = decode(toks[:, start:stop])
        # Samples of tokens [first - fade, last + fade), clipped to the utterance.
        lo = max(0, first - fade) - start
        hi = min(total, last + fade) - start
        piece = sig[lo * hop : hi * hop]
        if tail is not None:
            piece[: tail.shape[0]] = tail * (1 - ramp) + piece[: tail.shape[0]] * ramp
        if last < total:
            keep = piece.shape[0] - width
            tail = piece[keep:].clone()
            piece = piece[:keep]
        yield piece


def encode_long(
    codec: nn.Module,
    sig: Tensor,
    segment: float = 20.0,
    context: float = 5.0,
    max_whole: Optional[float] = None,
) -> Tensor:
    """Tokens of a long waveform held in memory (see ``iter_encode``).

    Arguments
    ---------
    codec : FocalCodec
        The codec.
    sig : torch.Tensor
        ``[samples]`` or ``[1, samples]`` at ``codec.sample_rate_input``.
    segment : float
        Seconds per segment.
    context : float
        Seconds of context on each side.
    max_whole : float, optional
        Inputs up to this many seconds are encoded in one piece.

    Returns
    -------
    toks : torch.Tensor
        ``[1, N]``.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("50hz")
    >>> sig = torch.randn(16000 * 6)
    >>> toks = encode_long(codec, sig, segment=2.0, context=1.0)
    >>> toks.shape == codec.sig_to_toks(sig[None]).shape
    True
    """
    sig = codec._check_sig(sig.reshape(1, -1), None)[0]
    pieces = iter_encode(codec, _slicer(sig), sig.shape[0], segment, context, max_whole)
    return torch.cat(list(pieces), dim=1)


def decode_long(
    codec: nn.Module,
    toks: Tensor,
    segment: float = 20.0,
    context: float = 5.0,
    crossfade: int = 2,
    converter: Optional[Callable[[Tensor], Tensor]] = None,
    max_whole: Optional[float] = None,
) -> Tensor:
    """Waveform of a long token sequence (see ``iter_decode``).

    Arguments
    ---------
    codec : FocalCodec
        The codec.
    toks : torch.Tensor
        ``[1, N]`` tokens.
    segment : float
        Seconds per segment.
    context : float
        Seconds of context on each side.
    crossfade : int
        Tokens cross-faded around each boundary.
    converter : callable, optional
        Voice conversion of the decompressed features.
    max_whole : float, optional
        Token sequences up to this many seconds are decoded in one piece.

    Returns
    -------
    sig : torch.Tensor
        ``[1, N * samples_per_token_out]``.
    """
    pieces = iter_decode(codec, toks, segment, context, crossfade, converter, max_whole)
    return torch.cat(list(pieces))[None]


def is_long(codec: nn.Module, sig: object) -> bool:
    """Whether ``sig`` is longer than ``codec.max_whole_seconds`` (tokenized in segments).

    Arguments
    ---------
    codec : FocalCodec
        The codec; ``max_whole_seconds = None`` never routes.
    sig : object
        What was passed to ``sig_to_toks`` (anything but a ``[B, samples]`` tensor
        is left to its validation).

    Returns
    -------
    long : bool

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("50hz")
    >>> codec.max_whole_seconds
    60.0
    >>> is_long(codec, torch.zeros(1, 16000 * 61)), is_long(codec, torch.zeros(1, 16000))
    (True, False)
    """
    limit = getattr(codec, "max_whole_seconds", None)
    if limit is None or not isinstance(sig, Tensor) or sig.ndim != 2:
        return False
    return sig.shape[1] > limit * codec.sample_rate_input


def encode_batch_long(
    codec: nn.Module,
    sig: Tensor,
    lens: Optional[Tensor] = None,
    segment: float = 20.0,
    context: float = 5.0,
) -> Tensor:
    """``sig_to_toks`` of a batch of long waveforms, item by item through ``encode_long``.

    Memory is that of one segment whatever the length; each item's tokens are
    those of ``encode_long`` on its own samples, token 0 past its end (as
    ``sig_to_toks``).

    Arguments
    ---------
    codec : FocalCodec
        The codec.
    sig : torch.Tensor
        ``[B, samples]`` at ``codec.sample_rate_input``.
    lens : torch.Tensor, optional
        Relative lengths ``[B]``.
    segment : float
        Seconds per segment.
    context : float
        Seconds of context on each side (offline codecs).

    Returns
    -------
    toks : torch.Tensor
        ``[B, tokens]``.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("causal")
    >>> sig = torch.randn(2, 16000)
    >>> torch.equal(encode_batch_long(codec, sig, segment=0.2), codec.sig_to_toks(sig))
    True
    """
    sig = codec._check_sig(sig, lens)
    num_samples = sig.shape[1]
    counts = [num_samples] * sig.shape[0]
    if lens is not None:
        counts = codec._counts(lens, num_samples)[0].tolist()
    toks = torch.zeros(sig.shape[0], _num_tokens(codec, num_samples), dtype=torch.long)
    toks = toks.to(sig.device)
    for row, count in enumerate(counts):
        pieces = iter_encode(codec, _slicer(sig[row, :count]), count, segment, context)
        item = torch.cat(list(pieces), dim=1)[0, : toks.shape[1]]
        toks[row, : item.shape[0]] = item
    return toks


def _whole_tokens(codec: nn.Module, seg: int, ctx: int, max_whole: Optional[float]) -> int:
    """Longest token sequence processed in one piece."""
    return seg + 2 * ctx if max_whole is None else round(max_whole * codec.token_rate)


def _slicer(sig: Tensor) -> Reader:
    return lambda start, stop: sig[start:stop]
