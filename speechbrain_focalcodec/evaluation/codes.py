"""Codebook statistics: how many codes a codec uses and how evenly.

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
from typing import Optional

import torch
from torch import Tensor

from speechbrain_focalcodec.ops.padding import lens_to_counts, padding_mask

__all__ = ["code_counts", "code_entropy", "code_usage"]


def code_counts(toks: Tensor, codebook_size: int, lens: Optional[Tensor] = None) -> Tensor:
    """Occurrences of every token in a (padded) batch.

    Arguments
    ---------
    toks : torch.Tensor
        Tokens, shape ``[batch, time]``.
    codebook_size : int
        Number of distinct tokens.
    lens : torch.Tensor, optional
        Relative lengths; padded positions are not counted.

    Returns
    -------
    counts : torch.Tensor
        Shape ``[codebook_size]``, int64.

    Example
    -------
    >>> code_counts(torch.tensor([[0, 1, 1, 3]]), 4, torch.tensor([0.75]))
    tensor([1, 2, 0, 0])
    """
    if lens is not None:
        num_frames = lens_to_counts(lens, toks.shape[1])
        toks = toks[~padding_mask(num_frames, toks.shape[1])]
    return torch.bincount(toks.flatten().long(), minlength=codebook_size)


def code_usage(counts: Tensor) -> float:
    """Percentage of the codebook that occurs at least once.

    Arguments
    ---------
    counts : torch.Tensor
        Token occurrences, see ``code_counts``.

    Returns
    -------
    usage : float
        In [0, 100].

    Example
    -------
    >>> code_usage(torch.tensor([1, 2, 0, 0]))
    50.0
    """
    return 100.0 * (counts > 0).sum().item() / counts.numel()


def code_entropy(counts: Tensor) -> float:
    """Entropy of the token distribution over ``log2(codebook_size)`` bits.

    1.0 means every code is equally frequent.

    Arguments
    ---------
    counts : torch.Tensor
        Token occurrences, see ``code_counts``.

    Returns
    -------
    entropy : float
        In [0, 1].

    Example
    -------
    >>> code_entropy(torch.tensor([5, 5, 5, 5]))
    1.0
    >>> code_entropy(torch.tensor([7, 0, 0, 0]))
    0.0
    """
    total = counts.sum()
    if total == 0:
        return 0.0
    probs = counts[counts > 0].double() / total
    return max(0.0, float(-(probs * probs.log2()).sum() / math.log2(counts.numel())))
