"""Padded batches and causal padding.

Every lobe of FocalCodec accepts SpeechBrain relative lengths (``lens``, shape
``[batch]``, values in ``(0, 1]``). Internally they are turned into absolute
frame counts (``num_frames``) with SpeechBrain's rounding convention,
``round(lens * max_len)``, and every operation that mixes frames (convolutions
with right context, pooling, attention, overlap-add) ignores the frames past
each item's count. This is what makes a padded batch give, item by item, the
same result as each utterance processed alone.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional

import torch
from torch import Tensor, nn

__all__ = [
    "causal_pad",
    "check_lens",
    "lens_to_num_frames",
    "masked_mean",
    "num_frames_to_lens",
    "padding_mask",
    "zero_padding",
]


def check_lens(lens: Optional[Tensor], batch_size: int) -> None:
    """Raises a clear error if ``lens`` are not valid relative lengths.

    Arguments
    ---------
    lens : torch.Tensor or None
        Relative lengths, shape ``[batch]``, in ``(0, 1]``.
    batch_size : int
        Expected batch size.

    Example
    -------
    >>> check_lens(torch.tensor([1.0, 0.5]), 2)
    >>> check_lens(torch.tensor([1.5]), 1)
    Traceback (most recent call last):
        ...
    ValueError: `lens` are relative lengths and must lie in (0, 1], got min 1.5 and max 1.5
    """
    if lens is None:
        return
    if not isinstance(lens, Tensor):
        raise TypeError(f"`lens` must be a torch.Tensor, got {type(lens).__name__}")
    if lens.ndim != 1 or lens.shape[0] != batch_size:
        raise ValueError(
            f"`lens` must have shape [{batch_size}] (one relative length per "
            f"item), got {list(lens.shape)}"
        )
    if not lens.is_floating_point():
        raise TypeError(f"`lens` are relative lengths and must be floating point, got {lens.dtype}")
    lo, hi = lens.min().item(), lens.max().item()
    if not (lo > 0.0 and hi <= 1.0 + 1e-6):
        raise ValueError(
            f"`lens` are relative lengths and must lie in (0, 1], got min {lo:.4g} and max {hi:.4g}"
        )


def lens_to_num_frames(lens: Optional[Tensor], max_len: int) -> Optional[Tensor]:
    """Converts relative lengths into absolute frame counts.

    The count is ``round(lens * max_len)`` (SpeechBrain's convention, see
    ``speechbrain.dataio.dataio.length_to_mask`` users), at least one frame.
    Returns None when there are no lengths or when every item is full length,
    so that callers can skip masking altogether.

    Arguments
    ---------
    lens : torch.Tensor or None
        Relative lengths, shape ``[batch]``.
    max_len : int
        Size of the time axis.

    Returns
    -------
    num_frames : torch.Tensor or None
        Absolute counts (int64), shape ``[batch]``.

    Example
    -------
    >>> lens_to_num_frames(torch.tensor([1.0, 0.5]), 7)
    tensor([7, 4])
    >>> lens_to_num_frames(torch.tensor([1.0, 1.0]), 7) is None
    True
    """
    if lens is None:
        return None
    num_frames = torch.round(lens.double() * max_len).long().clamp(1, max_len)
    if bool((num_frames == max_len).all()):
        return None
    return num_frames


def num_frames_to_lens(
    num_frames: Optional[Tensor], max_len: int, batch_size: int, device: torch.device
) -> Tensor:
    """Converts absolute frame counts back into relative lengths.

    ``lens_to_num_frames(num_frames_to_lens(n, T), T)`` gives back ``n``
    exactly.

    Arguments
    ---------
    num_frames : torch.Tensor or None
        Absolute counts, shape ``[batch]``; None means all full length.
    max_len : int
        Size of the time axis.
    batch_size : int
        Batch size, used when ``num_frames`` is None.
    device : torch.device
        Device of the returned tensor.

    Returns
    -------
    lens : torch.Tensor
        Relative lengths (float32), shape ``[batch]``.

    Example
    -------
    >>> num_frames_to_lens(torch.tensor([7, 4]), 7, 2, torch.device("cpu"))
    tensor([1.0000, 0.5714])
    """
    if num_frames is None:
        return torch.ones(batch_size, device=device)
    return num_frames.float() / max_len


def padding_mask(num_frames: Tensor, max_len: int) -> Tensor:
    """Boolean mask that is True on padded frames.

    Arguments
    ---------
    num_frames : torch.Tensor
        Absolute counts, shape ``[batch]``.
    max_len : int
        Size of the time axis.

    Returns
    -------
    mask : torch.Tensor
        Shape ``[batch, max_len]``.

    Example
    -------
    >>> padding_mask(torch.tensor([3, 1]), 3)
    tensor([[False, False, False],
            [False,  True,  True]])
    """
    steps = torch.arange(max_len, device=num_frames.device)
    return steps[None, :] >= num_frames[:, None]


def zero_padding(x: Tensor, num_frames: Optional[Tensor], time_dim: int = 1) -> Tensor:
    """Sets the padded frames of a batch to zero (NaN-safe, out of place).

    Arguments
    ---------
    x : torch.Tensor
        Batch whose first axis is the batch and ``time_dim`` the time axis.
    num_frames : torch.Tensor or None
        Absolute counts, shape ``[batch]``; None leaves ``x`` untouched.
    time_dim : int
        Time axis of ``x``.

    Returns
    -------
    x : torch.Tensor
        Same shape as the input.

    Example
    -------
    >>> zero_padding(torch.ones(2, 3, 1), torch.tensor([3, 1]))[..., 0]
    tensor([[1., 1., 1.],
            [1., 0., 0.]])
    """
    if num_frames is None:
        return x
    time_dim = time_dim % x.ndim
    mask = padding_mask(num_frames, x.shape[time_dim])
    shape = [x.shape[0]] + [1] * (x.ndim - 1)
    shape[time_dim] = x.shape[time_dim]
    return x.masked_fill(mask.view(shape), 0.0)


def masked_mean(x: Tensor, num_frames: Optional[Tensor], time_dim: int = -1) -> Tensor:
    """Mean over the time axis that ignores padded frames.

    Arguments
    ---------
    x : torch.Tensor
        Batch whose first axis is the batch.
    num_frames : torch.Tensor or None
        Absolute counts, shape ``[batch]``; None averages over all frames.
    time_dim : int
        Time axis of ``x``.

    Returns
    -------
    mean : torch.Tensor
        ``x`` averaged over ``time_dim`` (that axis removed).

    Example
    -------
    >>> masked_mean(torch.tensor([[1.0, 2.0, 9.0]]), torch.tensor([2]))
    tensor([1.5000])
    """
    if num_frames is None:
        return x.mean(dim=time_dim)
    total = zero_padding(x, num_frames, time_dim).sum(dim=time_dim)
    shape = [x.shape[0]] + [1] * (total.ndim - 1)
    return total / num_frames.view(shape).to(x.dtype)


def causal_pad(
    x: Tensor, pad: int, mode: str = "replicate", left_context: Optional[Tensor] = None
) -> Tensor:
    """Left-pads a channels-first sequence for a causal convolution.

    Without ``left_context`` (the first chunk of a stream, or offline
    processing) the sequence is padded with ``pad`` copies of its first frame
    (``mode="replicate"``) or with zeros (``mode="constant"``). With
    ``left_context`` (the last ``pad`` frames seen before this chunk) the
    context is prepended instead.

    Arguments
    ---------
    x : torch.Tensor
        Input, shape ``[batch, channels, time]``.
    pad : int
        Number of frames to prepend (kernel size - 1).
    mode : str
        ``"replicate"`` or ``"constant"``.
    left_context : torch.Tensor, optional
        Frames to prepend, shape ``[batch, channels, pad]``.

    Returns
    -------
    x : torch.Tensor
        Shape ``[batch, channels, pad + time]``.

    Example
    -------
    >>> causal_pad(torch.tensor([[[1.0, 2.0]]]), 2)
    tensor([[[1., 1., 1., 2.]]])
    >>> causal_pad(torch.tensor([[[1.0, 2.0]]]), 1, "constant")
    tensor([[[0., 1., 2.]]])
    """
    if pad == 0:
        return x
    if left_context is not None:
        return torch.cat([left_context, x], dim=-1)
    return nn.functional.pad(x, [pad, 0], mode=mode)
