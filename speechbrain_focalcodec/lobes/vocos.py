"""Vocos decoder: features -> waveform through an inverse STFT
(Siuzdak, "Vocos", https://arxiv.org/abs/2306.00814).

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.config import records_config
from speechbrain_focalcodec.lobes.convnext import ConvNeXtBackbone
from speechbrain_focalcodec.ops.linear import Linear
from speechbrain_focalcodec.ops.padding import (
    lens_to_counts,
    num_frames_to_lens,
    padding_mask,
    zero_padding,
)

__all__ = ["ISTFT", "ISTFTHead", "Vocos"]


class ISTFT(nn.Module):
    """Inverse STFT with "same" padding (offline) or per-frame synthesis (causal).

    Offline, frames are windowed, overlap-added and divided by the summed
    squared window, and ``(win_length - hop_length) / 2`` samples are trimmed
    at both ends, so that ``T`` frames give ``T * hop_length`` samples. The
    envelope is computed per item from its own frames, so padding never
    changes the samples of a shorter item. Causal synthesis keeps the last
    ``hop_length`` samples of each frame's inverse FFT.

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
    >>> istft(torch.randn(2, 10, 33, dtype=torch.complex64)).shape
    torch.Size([2, 160])
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

    def forward(self, spec: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Synthesizes the waveform.

        Arguments
        ---------
        spec : torch.Tensor
            Complex spectrogram, shape ``[batch, time, n_fft // 2 + 1]``.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        sig : torch.Tensor
            Shape ``[batch, time * hop_length]``.
        """
        frames = torch.fft.irfft(spec, self.n_fft, dim=-1, norm="backward")
        if self.causal:
            return frames[..., -self.hop_length :].flatten(start_dim=1)
        batch, time, _ = frames.shape
        size = (time - 1) * self.hop_length + self.n_fft
        frames = (frames * self.window).transpose(1, 2)
        envelope = self.window_sq[None, :, None].expand(1, -1, time)
        if num_frames is not None:
            frames = zero_padding(frames, num_frames, time_dim=-1)
            valid = (~padding_mask(num_frames, time)).to(envelope.dtype)
            envelope = envelope * valid[:, None, :]
        sig = self._overlap_add(frames, size)
        envelope = self._overlap_add(envelope, size)
        if num_frames is not None:
            # Past an item's end the envelope is zero: avoid 0 / 0.
            envelope = envelope.masked_fill(envelope == 0.0, 1.0)
        return sig / envelope

    def _overlap_add(self, frames: Tensor, size: int) -> Tensor:
        sig = nn.functional.fold(
            frames,
            output_size=(1, size),
            kernel_size=(1, self.n_fft),
            stride=(1, self.hop_length),
        )
        return sig[:, 0, 0, self.trim : -self.trim]


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
        # The synthesis runs in float32, also under autocast (complex bfloat16 does not exist).
        log_mag, phase = self.proj(x).float().chunk(2, dim=-1)
        # Bounded magnitude keeps the synthesis finite on out-of-domain inputs.
        mag = log_mag.exp().clamp(max=1e2)
        spec = mag * torch.complex(phase.cos(), phase.sin())
        return self.istft(spec, num_frames)


class Vocos(nn.Module):
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

    def forward(self, feats: Tensor, lens: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Synthesizes waveforms.

        Arguments
        ---------
        feats : torch.Tensor
            Features, shape ``[batch, time, input_dim]``.
        lens : torch.Tensor, optional
            Relative lengths, shape ``[batch]``.

        Returns
        -------
        sig : torch.Tensor
            Shape ``[batch, time * hop_length]``; zero past each item's end.
        lens : torch.Tensor
            Relative lengths of ``sig`` (unchanged).
        """
        num_frames = lens_to_counts(lens, feats.shape[1])
        sig = self.head(self.backbone(feats, num_frames), num_frames)
        if num_frames is not None:
            sig = zero_padding(sig, num_frames * self.upsample_factor)
        return sig, num_frames_to_lens(num_frames, feats.shape[1], feats.shape[0], sig.device)
