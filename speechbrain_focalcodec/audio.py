"""Reading audio files into model-ready waveforms.

Sample rates from ``MIN_SAMPLE_RATE`` (1 kHz) to ``MAX_SAMPLE_RATE`` (768 kHz,
the highest rate audio hardware and formats use) are accepted; others are an
``AudioError``. Resampling memory is bounded for any pair of rates: torchaudio's
polyphase filter bank is used when it is small, and otherwise the same windowed-sinc
filter is evaluated output block by output block (a rate such as 7919 Hz, prime,
would make torchaudio build a 16000 x 7933 filter bank).

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
from pathlib import Path
from typing import Union

import soundfile
import torch
import torchaudio
from speechbrain.dataio import audio_io
from torch import Tensor

__all__ = [
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "AudioError",
    "check_audio_path",
    "check_sample_rate",
    "load_audio",
    "resample",
]

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
# torchaudio's filter bank is used up to this many coefficients (16 MiB in float32).
MAX_FILTER_BANK = 1 << 22
# Output samples computed at once by the block-wise filter, times its taps.
_BLOCK_COEFFICIENTS = 1 << 20
# torchaudio's defaults, which the block-wise filter reproduces.
_LOWPASS_WIDTH = 6
_ROLLOFF = 0.99


class AudioError(ValueError):
    """An audio file or waveform cannot be used."""


def resample(sig: Tensor, sample_rate: int, target_rate: int) -> Tensor:
    """Resamples ``sig`` (time on the last axis) if the rates differ.

    Arguments
    ---------
    sig : torch.Tensor
        Waveform(s), shape ``[..., samples]``.
    sample_rate : int
        Current rate.
    target_rate : int
        Wanted rate.

    Returns
    -------
    sig : torch.Tensor
        Waveform(s) at ``target_rate``.

    Example
    -------
    >>> resample(torch.zeros(1, 48000), 48000, 16000).shape
    torch.Size([1, 16000])
    """
    check_sample_rate(sample_rate)
    check_sample_rate(target_rate)
    if sample_rate == target_rate:
        return sig
    divisor = math.gcd(sample_rate, target_rate)
    orig, new = sample_rate // divisor, target_rate // divisor
    width = math.ceil(_LOWPASS_WIDTH * orig / (min(orig, new) * _ROLLOFF))
    if new * (2 * width + orig) <= MAX_FILTER_BANK:
        return torchaudio.functional.resample(sig, sample_rate, target_rate)
    return _resample_blocks(sig, orig, new)


def check_sample_rate(sample_rate: int, what: str = "sample rate") -> None:
    """Raises ``AudioError`` unless ``sample_rate`` is an integer within the bounds.

    Arguments
    ---------
    sample_rate : int
        Rate in Hz.
    what : str
        What the rate is, for the message.

    Example
    -------
    >>> try:
    ...     check_sample_rate(1_000_000_007)
    ... except AudioError as error:
    ...     print(error)
    sample rate 1000000007 Hz is outside the supported 1000 to 768000 Hz
    """
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{what} {sample_rate} Hz is outside the supported "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz"
        )


def _resample_blocks(sig: Tensor, orig: int, new: int) -> Tensor:
    """torchaudio's windowed-sinc resampling (Hann window, its default width and
    roll-off) between coprime rates, evaluated for blocks of output samples."""
    base = min(orig, new) * _ROLLOFF
    width = math.ceil(_LOWPASS_WIDTH * orig / base)
    length = sig.shape[-1]
    flat = sig.reshape(-1, length)
    padded = torch.nn.functional.pad(flat, (width, width + orig))
    total = math.ceil(new * length / orig)
    taps = 2 * width + orig // new + 2
    block = max(1, _BLOCK_COEFFICIENTS // taps)
    offsets = torch.arange(taps, device=sig.device)
    pieces = []
    for first in range(0, total, block):
        out = torch.arange(first, min(total, first + block), device=sig.device)
        # Input samples k around output m (at time m * orig / new), from
        # k = floor(m * orig / new) - width on.
        low = out * orig // new - width
        index = low[:, None] + offsets  # [outputs, taps]
        # (k / orig - m / new) * base, from exact integers.
        t = (index * new - out[:, None] * orig).double() * (base / (orig * new))
        t = t.clamp(-_LOWPASS_WIDTH, _LOWPASS_WIDTH)
        window = torch.cos(t * (math.pi / _LOWPASS_WIDTH / 2)) ** 2
        t = t * math.pi
        kernel = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
        kernel = (kernel * window * (base / orig)).to(sig.dtype)
        values = padded[:, (index + width).clamp(0, padded.shape[-1] - 1)]
        pieces.append((values * kernel).sum(dim=-1))
    return torch.cat(pieces, dim=-1).reshape(sig.shape[:-1] + (total,))


def check_audio_path(path: Path) -> None:
    """Raises an ``AudioError`` unless ``path`` is an existing file.

    Arguments
    ---------
    path : pathlib.Path
        Where an audio file should be.

    Example
    -------
    >>> check_audio_path(Path("samples"))
    Traceback (most recent call last):
    ...
    speechbrain_focalcodec.audio.AudioError: samples is a folder, not an audio file
    """
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not an audio file")
    if not path.is_file():
        raise AudioError(f"No such audio file: {path}")


def load_audio(path: Union[str, Path], sample_rate: int) -> Tensor:
    """Reads an audio file as a mono float waveform at ``sample_rate``.

    Any format libsndfile reads (WAV, FLAC, OGG, ...), any sample rate and
    sample type (int16, int24, float) and any channel count (channels are
    averaged) are accepted.

    Arguments
    ---------
    path : str or Path
        Audio file.
    sample_rate : int
        Rate of the returned waveform.

    Returns
    -------
    sig : torch.Tensor
        Shape ``[samples]``, float32, in [-1, 1] for integer files.

    Raises
    ------
    AudioError
        If the file is missing, unreadable, empty or holds NaN/inf samples.
    """
    path = Path(path)
    check_audio_path(path)
    try:
        file_rate = soundfile.info(str(path)).samplerate
    except Exception as error:  # libsndfile raises several types
        raise AudioError(f"Cannot read audio file {path}: {error}") from None
    check_sample_rate(file_rate, f"{path}: sample rate")
    try:
        sig, file_rate = audio_io.load(str(path), channels_first=True, dtype=torch.float32)
    except Exception as error:  # libsndfile raises several types
        raise AudioError(f"Cannot read audio file {path}: {error}") from None
    if sig.numel() == 0:
        raise AudioError(f"Audio file {path} has no samples")
    sig = sig.mean(dim=0)
    if not bool(torch.isfinite(sig).all()):
        raise AudioError(f"Audio file {path} contains NaN or infinite samples")
    return resample(sig, file_rate, sample_rate)
