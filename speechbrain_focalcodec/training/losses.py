"""Log-mel L1 loss that ignores the padding of a batch.

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

from speechbrain_focalcodec.ops.padding import lens_to_counts

__all__ = ["MelL1Loss"]


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
