"""Vocos decoder: features -> waveform through an inverse STFT
(Siuzdak, "Vocos", https://arxiv.org/abs/2306.00814).

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.config import records_config
from speechbrain_focalcodec.lobes.convnext import ConvNeXtBackbone, ConvNeXtDecoder
from speechbrain_focalcodec.ops.frame_conv import _exporting
from speechbrain_focalcodec.ops.linear import Linear
from speechbrain_focalcodec.ops.padding import (
    padding_mask,
    zero_padding,
)

__all__ = ["ISTFT", "ISTFTHead", "Vocos"]


class ISTFT(nn.Module):
    """Inverse STFT with "same" padding (offline) or per-frame synthesis (causal).

    The one inverse STFT of the package (Vocos offline and causal, streaming
    and the ONNX export). Offline, frames are windowed, overlap-added and
    divided by the summed squared window, and ``(win_length - hop_length) / 2``
    samples are trimmed at both ends, so that ``T`` frames give
    ``T * hop_length`` samples. The envelope is computed per item from its
    own frames, so padding never changes the samples of a shorter item.
    Causal synthesis keeps the last ``hop_length`` samples of each frame's
    inverse FFT (a frame needs no other frame: streaming is the same call).

    The spectrum comes as magnitude and phase (real tensors). Exporters and
    compilers, which lack complex tensors, get the inverse real FFT as
    products with its cosine and sine bases and the overlap-add as a
    transposed convolution: the same function with real operators.

    Arguments
    ---------
    n_fft : int
        FFT size (also the window length).
    hop_length : int
        Hop between frames.
    causal : bool
        Per-frame synthesis without overlap-add.

    Example
    -------
    >>> istft = ISTFT(n_fft=64, hop_length=16)
    >>> mag, phase = torch.rand(2, 10, 33), torch.randn(2, 10, 33)
    >>> sig = istft(mag, phase)
    >>> sig.shape
    torch.Size([2, 160])
    >>> real = istft.frames(mag, phase, real_operators=True)
    >>> bool(torch.allclose(real, istft.frames(mag, phase), atol=1e-6))
    True
    """

    def __init__(self, n_fft: int = 1024, hop_length: int = 320, causal: bool = False) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.causal = causal
        self.trim = (n_fft - hop_length) // 2
        window = torch.hann_window(n_fft)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("window_sq", window**2, persistent=False)

    def frames(self, mag: Tensor, phase: Tensor, real_operators: Optional[bool] = None) -> Tensor:
        """Inverse real FFT of every frame (its last ``hop_length`` samples if causal).

        Arguments
        ---------
        mag : torch.Tensor
            Magnitudes, shape ``[batch, time, n_fft // 2 + 1]``.
        phase : torch.Tensor
            Phases, same shape.
        real_operators : bool, optional
            Products with the real bases instead of ``torch.fft.irfft``;
            by default only when exporting or compiling.

        Returns
        -------
        frames : torch.Tensor
            Shape ``[batch, time, n_fft]`` (``hop_length`` if causal).
        """
        if real_operators is None:
            real_operators = _exporting()
        if not real_operators:
            spec = mag * torch.complex(phase.cos(), phase.sin())
            frames = torch.fft.irfft(spec, self.n_fft, dim=-1, norm="backward")
            return frames[..., -self.hop_length :] if self.causal else frames
        cos, sin = self._bases(mag.dtype, mag.device)
        return (mag * phase.cos()) @ cos + (mag * phase.sin()) @ sin

    def _bases(self, dtype: torch.dtype, device: torch.device) -> Tuple[Tensor, Tensor]:
        """The inverse real FFT as two matrices ``[n_fft // 2 + 1, samples]``."""
        samples = torch.arange(self.n_fft, dtype=torch.float64, device=device)
        if self.causal:
            samples = samples[-self.hop_length :]
        bins = torch.arange(self.n_fft // 2 + 1, dtype=torch.float64, device=device)[:, None]
        angle = 2 * math.pi * bins * samples / self.n_fft
        # Every bin but DC and Nyquist stands for two conjugate bins.
        weight = torch.full_like(bins, 2.0 / self.n_fft)
        weight[0] = weight[-1] = 1.0 / self.n_fft
        return (weight * angle.cos()).to(dtype), (-weight * angle.sin()).to(dtype)

    def forward(self, mag: Tensor, phase: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Synthesizes the waveform.

        Arguments
        ---------
        mag : torch.Tensor
            Magnitudes, shape ``[batch, time, n_fft // 2 + 1]``.
        phase : torch.Tensor
            Phases, same shape.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        sig : torch.Tensor
            Shape ``[batch, time * hop_length]``.
        """
        frames = self.frames(mag, phase)
        if self.causal:
            return frames.flatten(start_dim=1)
        batch, time, _ = frames.shape
        frames = (frames * self.window.to(frames.dtype)).transpose(1, 2)
        envelope = self.window_sq.to(frames.dtype)[None, :, None].expand(1, -1, time)
        if num_frames is not None:
            frames = zero_padding(frames, num_frames, time_dim=-1)
            valid = (~padding_mask(num_frames, time)).to(envelope.dtype)
            envelope = envelope * valid[:, None, :]
        sig = self._overlap_add(frames)
        envelope = self._overlap_add(envelope)
        if num_frames is not None:
            # Past an item's end the envelope is zero: avoid 0 / 0.
            envelope = envelope.masked_fill(envelope == 0.0, 1.0)
        return sig / envelope

    def _overlap_add(self, frames: Tensor) -> Tensor:
        """Sums frames ``[batch, n_fft, time]`` at their hops, trimmed "same"."""
        size = (frames.shape[-1] - 1) * self.hop_length + self.n_fft
        if _exporting():
            eye = torch.eye(self.n_fft, dtype=frames.dtype, device=frames.device)[:, None]
            sig = nn.functional.conv_transpose1d(frames, eye, stride=self.hop_length)[:, 0]
        else:
            sig = nn.functional.fold(
                frames,
                output_size=(1, size),
                kernel_size=(1, self.n_fft),
                stride=(1, self.hop_length),
            )[:, 0, 0]
        return sig[:, self.trim : size - self.trim]


class ISTFTHead(nn.Module):
    """Projects features to log-magnitude and phase, then inverts the STFT.

    Arguments
    ---------
    dim : int
        Input channels.
    n_fft : int
        FFT size.
    hop_length : int
        Hop between frames.
    causal : bool
        Per-frame synthesis (see ``ISTFT``).

    Example
    -------
    >>> head = ISTFTHead(16, n_fft=64, hop_length=16)
    >>> head(torch.randn(2, 10, 16)).shape
    torch.Size([2, 160])
    """

    def __init__(
        self, dim: int, n_fft: int = 1024, hop_length: int = 320, causal: bool = False
    ) -> None:
        super().__init__()
        self.proj = Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop_length, causal)

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Synthesizes the waveform.

        Arguments
        ---------
        x : torch.Tensor
            Features, shape ``[batch, time, dim]``.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        sig : torch.Tensor
            Shape ``[batch, time * hop_length]``.
        """
        h = self.proj(x)
        if h.dtype not in (torch.float32, torch.float64):
            # The synthesis runs in float32 under autocast (no complex bfloat16).
            h = h.float()
        log_mag, phase = h.chunk(2, dim=-1)
        # Bounded magnitude keeps the synthesis finite on out-of-domain inputs.
        return self.istft(log_mag.exp().clamp(max=1e2), phase, num_frames)


class Vocos(ConvNeXtDecoder):
    """Vocos decoder: ConvNeXt backbone and inverse-STFT head.

    Arguments
    ---------
    input_dim : int
        Channels of the input features.
    num_layers : int
        Number of ConvNeXt blocks.
    dim : int
        Hidden channels.
    ffn_dim : int
        Hidden size of the block MLPs.
    kernel_size : int
        Convolution kernel.
    layerscale_init : float, optional
        Initial layer-scale gain; ``1 / num_layers`` if None.
    n_fft : int
        FFT size.
    hop_length : int
        Output samples per input frame.
    causal : bool
        Causal backbone and per-frame synthesis.

    Example
    -------
    >>> vocos = Vocos(input_dim=32, num_layers=2, dim=16, ffn_dim=48, n_fft=64, hop_length=16)
    >>> sig, lens = vocos(torch.randn(2, 10, 32), torch.tensor([1.0, 0.5]))
    >>> sig.shape, lens
    (torch.Size([2, 160]), tensor([1.0000, 0.5000]))
    """

    @records_config
    def __init__(
        self,
        input_dim: int = 1024,
        num_layers: int = 8,
        dim: int = 512,
        ffn_dim: int = 1536,
        kernel_size: int = 7,
        layerscale_init: Optional[float] = None,
        n_fft: int = 1024,
        hop_length: int = 320,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.causal = causal
        self.upsample_factor = hop_length
        self.backbone = ConvNeXtBackbone(
            input_dim,
            num_layers,
            dim,
            ffn_dim,
            kernel_size,
            layerscale_init,
            causal,
            pad_mode="replicate",
        )
        self.head = ISTFTHead(dim, n_fft, hop_length, causal)

    def _head(self, h: Tensor, num_frames: Optional[Tensor]) -> Tensor:
        return self.head(h, num_frames)  # the inverse STFT ends each item at its frames
