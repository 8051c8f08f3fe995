"""Losses that ignore the padding of a batch: log-mel L1 and feature MSE.

SpeechBrain's ``L1SpecLoss`` (HiFi-GAN's 80-bin log-mel L1) compares whole
tensors. Stage 2 trains on full-length random segments, where that is exact;
validation and test decode whole utterances of different lengths, where the
padding would count. ``MelL1Loss`` accepts SpeechBrain relative lengths and
then scores each item on its own samples only.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional

from speechbrain.lobes.models.HifiGAN import L1SpecLoss
from torch import Tensor

from speechbrain_focalcodec.ops.padding import lens_to_counts, padding_mask

__all__ = ["MelL1Loss", "masked_mse_loss"]


class MelL1Loss(L1SpecLoss):
    """L1 distance between log-mel spectrograms, optionally of a padded batch.

    Arguments are those of ``speechbrain.lobes.models.HifiGAN.L1SpecLoss``.
    The mean runs over all the (frame, mel bin) pairs of the valid samples.

    Example
    -------
    >>> loss = MelL1Loss(sample_rate=16000, hop_length=320, win_length=1024, n_fft=1024)
    >>> ref = torch.randn(2, 1, 8000)
    >>> hyp = ref.clone()
    >>> hyp[1, :, 4000:] = 0.0  # padding of a shorter item
    >>> loss(hyp, ref, torch.tensor([1.0, 0.5])).item()
    0.0
    >>> loss(hyp, ref).item() > 0
    True
    """

    def forward(self, y_hat: Tensor, y: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Computes the loss.

        Arguments
        ---------
        y_hat : torch.Tensor
            Generated waveforms, ``[batch, samples]`` or ``[batch, 1, samples]``.
        y : torch.Tensor
            Reference waveforms, same shape.
        lens : torch.Tensor, optional
            Relative lengths; None means no padding.

        Returns
        -------
        loss : torch.Tensor
            Scalar.
        """
        if lens is None:
            return super().forward(y_hat, y)
        counts = lens_to_counts(lens, y.shape[-1]).tolist()
        total = y.new_zeros(())
        weight = 0
        for hyp, ref, count in zip(y_hat, y, counts):
            frames = count // self.hop_length + 1  # centered frames of `count` samples
            total = total + frames * super().forward(hyp[..., :count], ref[..., :count])
            weight += frames
        return total / weight


def masked_mse_loss(
    predictions: Tensor, targets: Tensor, length: Optional[Tensor] = None
) -> Tensor:
    """Mean squared error over the valid frames of a padded batch.

    SpeechBrain's ``mse_loss`` counts the frames below ``length * frames``
    without rounding, so a relative length a hair above an integer count
    (``41.000004`` for 41 frames) lets one padded frame into the loss. Here
    the counts are rounded, as everywhere in this package.

    Arguments
    ---------
    predictions : torch.Tensor
        ``[batch, frames, ...]``.
    targets : torch.Tensor
        Same shape.
    length : torch.Tensor, optional
        Relative lengths; None means no padding.

    Returns
    -------
    loss : torch.Tensor
        Scalar: the mean over every value of every valid frame.

    Example
    -------
    >>> targets = torch.zeros(2, 41, 3)
    >>> predictions = targets.clone()
    >>> predictions[1, 20:] = 5.0  # padding of the second item (20 frames)
    >>> masked_mse_loss(predictions, targets, torch.tensor([1.0, 20 / 41 + 1e-7])).item()
    0.0
    """
    error = (predictions - targets).square()
    num_frames = lens_to_counts(length, targets.shape[1])
    if num_frames is None:
        return error.mean()
    valid = ~padding_mask(num_frames, targets.shape[1])
    valid = valid.reshape(*valid.shape, *([1] * (error.dim() - 2))).expand_as(error)
    return error[valid].mean()
