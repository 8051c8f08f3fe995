"""Padded batches and causal padding.

Every lobe of FocalCodec accepts SpeechBrain relative lengths (``lens``, shape
``[batch]``, values in ``(0, 1]``). They are turned into absolute counts (of
samples, frames, tokens...) by one function, ``lens_to_counts``, and every
operation that mixes frames (convolutions with right context, pooling,
attention, overlap-add) ignores the frames past each item's count. This is
what makes a padded batch give, item by item, the same result as each
utterance processed alone.

Nothing here reads tensor values on the host (no ``.item()``, no Python
branch on a tensor): with ``lens`` the lobes queue their work without
synchronizing with the device and compile with ``torch.compile(fullgraph=True)``.
User inputs are validated once, at the public API (``check_lens``).

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional, overload

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.ops.capability import tracing

__all__ = [
    "causal_pad",
    "check_lens",
    "lens_to_counts",
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
    valid = ((lens > 0.0) & (lens <= 1.0 + 1e-6)).all()
    if tracing():  # no host read while compiling: checked on the device
        torch._assert_async(valid, "`lens` are relative lengths and must lie in (0, 1]")
        return
    if not bool(valid):
        lo, hi = lens.min().item(), lens.max().item()
        raise ValueError(
            f"`lens` are relative lengths and must lie in (0, 1], got min {lo:.4g} and max {hi:.4g}"
        )


@overload
def lens_to_counts(lens: Tensor, max_len: int) -> Tensor: ...


@overload
def lens_to_counts(lens: None, max_len: int) -> None: ...


def lens_to_counts(lens: Optional[Tensor], max_len: int) -> Optional[Tensor]:
    """Converts relative lengths into absolute counts (samples, frames, tokens...).

    The count is ``round(lens * max_len)`` computed in float64 (so that the
    relative lengths of ``num_frames_to_lens`` give back their counts
    exactly), clamped to ``[1, max_len]``. This is the one definition used
    throughout the package. It reads nothing on the host.

    Arguments
    ---------
    lens : torch.Tensor or None
        Relative lengths, shape ``[batch]``; None (every item full length)
        gives None.
    max_len : int
        Size of the time axis.

    Returns
    -------
    counts : torch.Tensor or None
        Absolute counts (int64), shape ``[batch]``.

    Example
    -------
    >>> lens_to_counts(torch.tensor([1.0, 0.5]), 7)
    tensor([7, 4])
    >>> lens_to_counts(torch.tensor([1.0, 1.0]), 7)
    tensor([7, 7])
    >>> lens_to_counts(None, 7) is None
    True
    """
    if lens is None:
        return None
    return torch.round(lens.double() * max_len).long().clamp(1, max_len)


def num_frames_to_lens(
    num_frames: Optional[Tensor], max_len: int, batch_size: int, device: torch.device
) -> Tensor:
    """Converts absolute frame counts back into relative lengths.

    ``lens_to_counts(num_frames_to_lens(n, T, ...), T)`` gives back ``n``
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
