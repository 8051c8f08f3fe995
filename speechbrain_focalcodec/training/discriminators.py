"""HiFi-GAN multi-period + multi-scale discriminators with adjustable width.

The paper configuration uses SpeechBrain's ``HifiganDiscriminator`` as it is
(70 M parameters). The classes below build the same discriminators (periods
2, 3, 5, 7, 11; three scales; same kernels, strides, groups and weight /
spectral normalization) with every channel count divided by
``channel_divisor``, so that CPU runs (the bundled demo, the tests) can afford
the adversarial losses. They reuse SpeechBrain's ``forward`` methods; with
``channel_divisor=1`` the parameters have exactly the shapes of SpeechBrain's.

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
from typing import Sequence

from speechbrain.lobes.models import HifiGAN
from speechbrain.nnet.CNN import Conv2d
from torch import nn

__all__ = [
    "HifiganDiscriminator",
    "MultiPeriodDiscriminator",
    "MultiScaleDiscriminator",
    "PeriodDiscriminator",
    "ScaleDiscriminator",
]

# SpeechBrain's (HiFi-GAN's) layer specifications.
PERIODS = (2, 3, 5, 7, 11)
PERIOD_CHANNELS = (32, 128, 512, 1024, 1024)
# (output channels, kernel, stride, groups) of each layer of a scale discriminator.
SCALE_LAYERS = (
    (128, 15, 1, 1),
    (128, 41, 2, 4),
    (256, 41, 2, 16),
    (512, 41, 4, 16),
    (1024, 41, 4, 16),
    (1024, 41, 1, 16),
    (1024, 5, 1, 1),
)


def _narrow(channels: int, divisor: int) -> int:
    return max(channels // divisor, 1)


class PeriodDiscriminator(HifiGAN.DiscriminatorP):
    """Period discriminator: 2D convolutions over the waveform folded by ``period``.

    Arguments
    ---------
    period : int
        Folding period (samples).
    channels : sequence of int
        Output channels of the convolutions (the last one is not strided).
    kernel_size : int
        Kernel along time.
    stride : int
        Stride along time.

    Example
    -------
    >>> disc = PeriodDiscriminator(3, channels=[4, 8, 8])
    >>> score, feats = disc(torch.randn(2, 1, 1000))
    >>> score.shape, len(feats)
    (torch.Size([2, 114]), 4)
    """

    def __init__(
        self,
        period: int,
        channels: Sequence[int] = PERIOD_CHANNELS,
        kernel_size: int = 5,
        stride: int = 3,
    ) -> None:
        # The parent constructor hard-codes the widths: only its forward is reused.
        nn.Module.__init__(self)
        self.period = period
        self.convs = nn.ModuleList()
        in_channels = 1
        for index, out_channels in enumerate(channels):
            self.convs.append(
                Conv2d(
                    in_channels=in_channels,
                    out_channels=out_channels,
                    kernel_size=(kernel_size, 1),
                    stride=(stride, 1) if index < len(channels) - 1 else 1,
                    padding="same",
                    skip_transpose=True,
                    weight_norm=True,
                )
            )
            in_channels = out_channels
        self.conv_post = Conv2d(
            in_channels=in_channels,
            out_channels=1,
            kernel_size=(3, 1),
            stride=1,
            padding="same",
            skip_transpose=True,
            weight_norm=True,
        )


class ScaleDiscriminator(HifiGAN.DiscriminatorS):
    """Scale discriminator: grouped 1D convolutions over the waveform.

    Arguments
    ---------
    channel_divisor : int
        Divides every channel count of HiFi-GAN's scale discriminator
        (groups shrink where needed to divide the channels).
    use_spectral_norm : bool
        Spectral instead of weight normalization (HiFi-GAN's first scale).

    Example
    -------
    >>> disc = ScaleDiscriminator(channel_divisor=32)
    >>> score, feats = disc(torch.randn(2, 1, 1000))
    >>> score.shape, len(feats)
    (torch.Size([2, 16]), 8)
    """

    def __init__(self, channel_divisor: int = 1, use_spectral_norm: bool = False) -> None:
        # The parent constructor hard-codes the widths: only its forward is reused.
        nn.Module.__init__(self)
        norm = (
            nn.utils.spectral_norm if use_spectral_norm else nn.utils.parametrizations.weight_norm
        )
        self.convs = nn.ModuleList()
        in_channels = 1
        for channels, kernel_size, stride, groups in SCALE_LAYERS:
            out_channels = _narrow(channels, channel_divisor)
            groups = math.gcd(groups, math.gcd(in_channels, out_channels))
            conv = nn.Conv1d(
                in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups
            )
            self.convs.append(norm(conv))
            in_channels = out_channels
        self.conv_post = norm(nn.Conv1d(in_channels, 1, 3, 1, padding=1))


class MultiPeriodDiscriminator(HifiGAN.MultiPeriodDiscriminator):
    """HiFi-GAN's multi-period discriminator (periods 2, 3, 5, 7 and 11).

    Arguments
    ---------
    channel_divisor : int
        Divides every channel count.

    Example
    -------
    >>> scores, feats = MultiPeriodDiscriminator(channel_divisor=32)(torch.randn(1, 1, 2000))
    >>> len(scores), len(feats[0])
    (5, 6)
    """

    def __init__(self, channel_divisor: int = 1) -> None:
        nn.Module.__init__(self)
        channels = [_narrow(c, channel_divisor) for c in PERIOD_CHANNELS]
        self.discriminators = nn.ModuleList(
            [PeriodDiscriminator(period, channels) for period in PERIODS]
        )


class MultiScaleDiscriminator(HifiGAN.MultiScaleDiscriminator):
    """HiFi-GAN's multi-scale discriminator (waveform, x1/2, x1/4).

    Arguments
    ---------
    channel_divisor : int
        Divides every channel count.

    Example
    -------
    >>> scores, feats = MultiScaleDiscriminator(channel_divisor=32)(torch.randn(1, 1, 2000))
    >>> len(scores), len(feats[0])
    (3, 8)
    """

    def __init__(self, channel_divisor: int = 1) -> None:
        nn.Module.__init__(self)
        self.discriminators = nn.ModuleList(
            [
                ScaleDiscriminator(channel_divisor, use_spectral_norm=True),
                ScaleDiscriminator(channel_divisor),
                ScaleDiscriminator(channel_divisor),
            ]
        )
        self.meanpools = nn.ModuleList(
            [nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)]
        )


class HifiganDiscriminator(HifiGAN.HifiganDiscriminator):
    """HiFi-GAN's multi-period and multi-scale discriminators, ``channel_divisor`` times narrower.

    Scores and features come in SpeechBrain's order (5 periods, then 3
    scales), as ``speechbrain.lobes.models.HifiGAN`` losses expect.

    Arguments
    ---------
    channel_divisor : int
        Divides every channel count (1 = SpeechBrain's ``HifiganDiscriminator``).

    Example
    -------
    >>> disc = HifiganDiscriminator(channel_divisor=32)
    >>> scores, feats = disc(torch.randn(2, 1, 7040))
    >>> len(scores), sum(len(f) for f in feats)
    (8, 54)
    """

    def __init__(self, channel_divisor: int = 1) -> None:
        nn.Module.__init__(self)
        if channel_divisor < 1:
            raise ValueError(f"`channel_divisor` must be >= 1, got {channel_divisor}")
        self.mpd = MultiPeriodDiscriminator(channel_divisor)
        self.msd = MultiScaleDiscriminator(channel_divisor)
