"""Reading audio files into model-ready waveforms.

Authors
 * speechbrain-focalcodec developers 2026
"""

from pathlib import Path
from typing import Union

import torch
import torchaudio
from speechbrain.dataio import audio_io
from torch import Tensor

__all__ = ["AudioError", "load_audio", "resample"]


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
    if sample_rate == target_rate:
        return sig
    return torchaudio.functional.resample(sig, sample_rate, target_rate)


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
    if not path.is_file():
        raise AudioError(f"No such audio file: {path}")
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
