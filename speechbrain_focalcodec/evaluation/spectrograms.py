"""Side-by-side spectrograms of a reference and its reconstruction.

Authors
 * speechbrain-focalcodec developers 2026
"""

from pathlib import Path
from typing import Union

import torch
from torch import Tensor

from speechbrain_focalcodec.files import atomic_path

__all__ = ["log_spectrogram", "save_spectrogram_comparison"]


def log_spectrogram(sig: Tensor, n_fft: int = 512, hop_length: int = 128) -> Tensor:
    """Magnitude spectrogram in dB, shape ``[n_fft // 2 + 1, frames]``.

    Arguments
    ---------
    sig : torch.Tensor
        Waveform, shape ``[samples]``.
    n_fft : int
        FFT size.
    hop_length : int
        Hop between frames.

    Returns
    -------
    spec : torch.Tensor

    Example
    -------
    >>> log_spectrogram(torch.randn(16000)).shape
    torch.Size([257, 126])
    """
    window = torch.hann_window(n_fft, device=sig.device)
    spec = torch.stft(sig.float(), n_fft, hop_length, window=window, return_complex=True)
    return 20.0 * spec.abs().clamp(min=1e-5).log10()


def save_spectrogram_comparison(
    ref: Tensor, hyp: Tensor, sample_rate: int, path: Union[str, Path], title: str = ""
) -> Path:
    """Writes a PNG with the reference (top) and reconstruction (bottom) spectrograms.

    Both panels share the time and frequency axes and the colour scale.

    Arguments
    ---------
    ref : torch.Tensor
        Reference waveform, shape ``[samples]``.
    hyp : torch.Tensor
        Reconstruction at the same rate, shape ``[samples]``.
    sample_rate : int
        Rate of both waveforms.
    path : str or Path
        Output PNG file (its folder is created).
    title : str
        Figure title.

    Returns
    -------
    path : Path

    Example
    -------
    >>> out = save_spectrogram_comparison(
    ...     torch.randn(8000), torch.randn(8000), 16000, getfixture("tmpdir") / "a.png"
    ... )
    >>> out.stat().st_size > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    specs = [log_spectrogram(ref.cpu()), log_spectrogram(hyp.cpu())]
    top = max(float(spec.max()) for spec in specs)
    extent = [0.0, ref.shape[-1] / sample_rate, 0.0, sample_rate / 2000.0]
    figure, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True, sharey=True)
    for axis, spec, label in zip(axes, specs, ["reference", "reconstruction"]):
        image = axis.imshow(
            spec.numpy(),
            origin="lower",
            aspect="auto",
            extent=extent,
            vmin=top - 80.0,
            vmax=top,
            cmap="magma",
        )
        axis.set_ylabel(f"{label}\nfrequency (kHz)")
    axes[-1].set_xlabel("time (s)")
    figure.colorbar(image, ax=list(axes), label="dB")
    if title:
        figure.suptitle(title)
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=100, format=Path(path).suffix[1:] or "png")
    finally:
        plt.close(figure)
    return path
