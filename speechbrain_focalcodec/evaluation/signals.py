"""Reference-based signal metrics that need no downloaded model.

* ``si_sdr``: scale-invariant signal-to-distortion ratio (dB, Le Roux et al., 2019);
* ``mel_distance``: mean absolute difference of log10 mel spectrograms;
* ``stoi``: short-time objective intelligibility (Taal et al., 2011), ``pystoi``
  (NaN below 30 frames of speech);
* ``pesq_wb``: wideband PESQ (ITU-T P.862.2), ``pesq``.

Every function compares one reconstruction with its reference, both 1-D
waveforms at the same rate; the shorter one sets the compared length.

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
import warnings
from typing import Tuple

import torch
import torchaudio
from torch import Tensor

from speechbrain_focalcodec.audio import resample

__all__ = ["mel_distance", "pesq_wb", "si_sdr", "stoi"]

PESQ_RATE = 16000
# STOI works at 10 kHz on 30 frames of 256 samples, hop 128 (Taal et al., 2011).
STOI_RATE = 10000
STOI_MIN_SAMPLES = 256 + 29 * 128


def _aligned(ref: Tensor, hyp: Tensor) -> Tuple[Tensor, Tensor]:
    if ref.ndim != 1 or hyp.ndim != 1:
        raise ValueError(
            f"Expected 1-D waveforms, got shapes {list(ref.shape)} and {list(hyp.shape)}"
        )
    length = min(ref.shape[0], hyp.shape[0])
    if length == 0:
        raise ValueError("Cannot compare empty waveforms")
    return ref[:length].double().cpu(), hyp[:length].double().cpu()


def si_sdr(ref: Tensor, hyp: Tensor, eps: float = 1e-8) -> float:
    """Scale-invariant signal-to-distortion ratio in dB.

    Arguments
    ---------
    ref : torch.Tensor
        Reference waveform, shape ``[samples]``.
    hyp : torch.Tensor
        Estimate, shape ``[samples]``.
    eps : float
        Guards the logarithm and the projection.

    Returns
    -------
    si_sdr : float

    Example
    -------
    >>> ref = torch.sin(torch.arange(16000) / 10.0)
    >>> round(si_sdr(ref, 0.5 * ref + 0.1 * ref.roll(7)), 1) > 10
    True
    """
    ref, hyp = _aligned(ref, hyp)
    ref, hyp = ref - ref.mean(), hyp - hyp.mean()
    scale = (hyp @ ref) / (ref @ ref + eps)
    target = scale * ref
    noise = hyp - target
    return float(10.0 * torch.log10((target @ target + eps) / (noise @ noise + eps)))


def mel_distance(
    ref: Tensor,
    hyp: Tensor,
    sample_rate: int = 16000,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 80,
) -> float:
    """Mean absolute difference of the log10 mel spectrograms (lower is better).

    Arguments
    ---------
    ref : torch.Tensor
        Reference waveform, shape ``[samples]``.
    hyp : torch.Tensor
        Reconstruction, shape ``[samples]``.
    sample_rate : int
        Rate of both waveforms.
    n_fft : int
        FFT size.
    hop_length : int
        Hop between frames.
    n_mels : int
        Mel bands.

    Returns
    -------
    distance : float

    Example
    -------
    >>> ref = torch.randn(16000)
    >>> mel_distance(ref, ref)
    0.0
    """
    ref, hyp = _aligned(ref, hyp)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=1.0
    ).double()
    log_ref = mel(ref).clamp(min=1e-5).log10()
    log_hyp = mel(hyp).clamp(min=1e-5).log10()
    return float((log_ref - log_hyp).abs().mean())


def stoi(ref: Tensor, hyp: Tensor, sample_rate: int) -> float:
    """Short-time objective intelligibility, in [0, 1] (higher is better).

    Arguments
    ---------
    ref : torch.Tensor
        Clean reference, shape ``[samples]``.
    hyp : torch.Tensor
        Reconstruction, shape ``[samples]``.
    sample_rate : int
        Rate of both waveforms.

    Returns
    -------
    stoi : float
        NaN when there are fewer than the 30 frames (384 ms) of speech that STOI
        needs, before or after its removal of silent frames (``pystoi`` would
        return a placeholder 1e-5, or fail on a few samples).

    Example
    -------
    >>> ref = torch.randn(16000)
    >>> round(stoi(ref, ref, 16000), 3)
    1.0
    >>> stoi(ref[:4000], ref[:4000], 16000)
    nan
    """
    from pystoi import stoi as pystoi

    ref, hyp = _aligned(ref, hyp)
    if ref.shape[0] * STOI_RATE / sample_rate < STOI_MIN_SAMPLES:
        return math.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = float(pystoi(ref.numpy(), hyp.numpy(), sample_rate, extended=False))
    if any("Not enough STFT frames" in str(warning.message) for warning in caught):
        return math.nan  # the placeholder: too little speech once silence is removed
    return score


def pesq_wb(ref: Tensor, hyp: Tensor, sample_rate: int) -> float:
    """Wideband PESQ (MOS-LQO, about 1.0 to 4.64), computed at 16 kHz.

    Arguments
    ---------
    ref : torch.Tensor
        Clean reference, shape ``[samples]``.
    hyp : torch.Tensor
        Reconstruction, shape ``[samples]``.
    sample_rate : int
        Rate of both waveforms (resampled to 16 kHz).

    Returns
    -------
    pesq : float
        NaN when PESQ finds no speech to compare (e.g. silence).

    Example
    -------
    >>> t = torch.arange(32000) / 16000
    >>> ref = torch.sin(2 * math.pi * 200 * t) * torch.sin(2 * math.pi * 3 * t)
    >>> pesq_wb(ref, ref, 16000) > 4.5
    True
    """
    from pesq import PesqError, pesq

    ref, hyp = _aligned(ref, hyp)
    if not (bool(ref.abs().max() > 0) and bool(hyp.abs().max() > 0)):
        return math.nan  # PESQ normalizes by the peak: silence has no score
    ref = resample(ref.float(), sample_rate, PESQ_RATE).double()
    hyp = resample(hyp.float(), sample_rate, PESQ_RATE).double()
    score = pesq(PESQ_RATE, ref.numpy(), hyp.numpy(), "wb", on_error=PesqError.RETURN_VALUES)
    return float(score) if score >= 0 else math.nan
