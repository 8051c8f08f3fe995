#!/usr/bin/env python3
"""Encodes an audio file to tokens with a trained codec and decodes it back.

Writes the reconstruction as a wav file and, optionally, a PNG comparing the
log-mel spectrograms of the input and of the reconstruction.

> python -m speechbrain_focalcodec.training.resynthesize <codec dir> <audio file> <output.wav>
      [--png spectrograms.png]

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import soundfile
import torch
import torchaudio
from torch import Tensor

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.audio import AudioError, load_audio, resample
from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.files import OutputError, atomic_path

__all__ = ["log_mel", "plot_spectrograms", "resynthesize"]

SPECTROGRAM_RATE = 16000


def log_mel(sig: Tensor, sample_rate: int) -> Tensor:
    """80-bin log-mel spectrogram (dB) of a waveform, at 16 kHz.

    Arguments
    ---------
    sig : torch.Tensor
        Waveform, ``[samples]``.
    sample_rate : int
        Its rate.

    Returns
    -------
    spec : torch.Tensor
        ``[80, frames]`` (10 ms hop).

    Example
    -------
    >>> log_mel(torch.randn(16000), 16000).shape
    torch.Size([80, 101])
    """
    sig = resample(sig.float(), sample_rate, SPECTROGRAM_RATE)
    mel = torchaudio.transforms.MelSpectrogram(
        SPECTROGRAM_RATE, n_fft=1024, win_length=400, hop_length=160, n_mels=80
    )(sig)
    return 10.0 * torch.log10(mel.clamp(min=1e-10))


def plot_spectrograms(
    ref_sig: Tensor,
    ref_rate: int,
    rec_sig: Tensor,
    rec_rate: int,
    path: Union[str, Path],
    title: str = "",
) -> None:
    """Saves a PNG with the log-mel spectrograms of a reference and its reconstruction.

    Both share one color scale (80 dB below the reference's peak).

    Arguments
    ---------
    ref_sig : torch.Tensor
        Reference waveform, ``[samples]``.
    ref_rate : int
        Its rate.
    rec_sig : torch.Tensor
        Reconstructed waveform, ``[samples]``.
    rec_rate : int
        Its rate.
    path : str or Path
        Output PNG.
    title : str
        Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    specs = [log_mel(ref_sig, ref_rate), log_mel(rec_sig, rec_rate)]
    top = float(specs[0].max())
    figure, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True, constrained_layout=True)
    for axis, spec, name in zip(axes, specs, ("input", "reconstruction")):
        seconds = spec.shape[1] * 160 / SPECTROGRAM_RATE
        image = axis.imshow(
            spec.numpy(),
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - 80.0,
            vmax=top,
            extent=(0.0, seconds, 0, spec.shape[0]),
        )
        axis.set_title(name)
        axis.set_ylabel("mel bin")
    axes[-1].set_xlabel("time (s)")
    figure.colorbar(image, ax=axes, label="dB")
    if title:
        figure.suptitle(title)
    with atomic_path(path) as partial:
        figure.savefig(partial, dpi=100, format="png")
    plt.close(figure)


def resynthesize(
    codec_folder: Union[str, Path],
    audio_path: Union[str, Path],
    output_wav: Union[str, Path],
    png: Optional[Union[str, Path]] = None,
) -> Dict[str, Any]:
    """Encodes ``audio_path`` to tokens, decodes them and writes the result.

    Arguments
    ---------
    codec_folder : str or Path
        Directory of a pretrained codec (e.g. the export of the recipe).
    audio_path : str or Path
        Audio file (any rate and channel count).
    output_wav : str or Path
        Where to write the reconstruction (at the codec's output rate).
    png : str or Path, optional
        Where to write the spectrogram comparison.

    Returns
    -------
    info : dict
        ``num_tokens``, ``duration`` (s), ``bitrate`` (bit/s), ``sample_rate``.
    """
    codec = FocalCodec.from_pretrained(codec_folder)
    sig = load_audio(audio_path, codec.sample_rate_input)
    with torch.no_grad():
        toks = codec.sig_to_toks(sig[None])
        rec = codec.toks_to_sig(toks)[0]
    with atomic_path(output_wav) as partial:
        soundfile.write(str(partial), rec.numpy(), codec.sample_rate_output, format="WAV")
    if png is not None:
        plot_spectrograms(
            sig,
            codec.sample_rate_input,
            rec,
            codec.sample_rate_output,
            png,
            f"{Path(audio_path).name}: {toks.shape[1]} tokens, {codec.bitrate:.0f} bit/s",
        )
    return {
        "num_tokens": toks.shape[1],
        "duration": sig.shape[0] / codec.sample_rate_input,
        "bitrate": codec.bitrate,
        "sample_rate": codec.sample_rate_output,
    }


def main(argv: Sequence[str]) -> int:
    """Command line: ``python -m speechbrain_focalcodec.training.resynthesize <c> <in> <out>``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("codec_folder", help="pretrained codec directory")
    parser.add_argument("audio", help="input audio file")
    parser.add_argument("output_wav", help="reconstruction to write")
    parser.add_argument("--png", default=None, help="spectrogram comparison to write")
    args = parser.parse_args(argv)
    try:
        info = resynthesize(args.codec_folder, args.audio, args.output_wav, args.png)
    except (AudioError, CheckpointError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{info['num_tokens']} tokens for {info['duration']:.2f} s -> {args.output_wav}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
