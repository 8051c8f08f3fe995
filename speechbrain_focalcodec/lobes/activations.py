"""Learnable activations used by the focal compressor and decompressor.

Authors
 * speechbrain-focalcodec developers 2026
"""

import torch
from torch import Tensor, nn

__all__ = ["DynamicTanh", "Snake1d"]


class Snake1d(nn.Module):
    """Snake activation, ``x + sin(alpha * x)^2 / alpha``, one alpha per channel.

    See Ziyin et al., "Neural Networks Fail to Learn Periodic Functions and
    How to Fix It", https://arxiv.org/abs/2006.08195.

    Arguments
    ---------
    dim : int
        Number of channels.

    Example
    -------
    >>> snake = Snake1d(8)
    >>> snake(torch.zeros(2, 5, 8)).abs().max()
    tensor(0., grad_fn=<MaxBackward1>)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        # Stored as [dim, 1] for checkpoint compatibility.
        self.alpha = nn.Parameter(torch.ones(dim, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Applies the activation.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        alpha = self.alpha.T
        return x + (alpha + 1e-9).reciprocal() * (alpha * x).sin() ** 2


class DynamicTanh(nn.Module):
    """Dynamic tanh, ``tanh(alpha * x)`` with one learnable scalar.

    A normalization-free replacement for layer normalization that keeps causal
    layers independent of future frames (Zhu et al., "Transformers without
    Normalization", https://arxiv.org/abs/2503.10622).

    Arguments
    ---------
    dim : int
        Number of channels (kept for the representation only).
    tanhscale_init : float
        Initial value of ``alpha``.

    Example
    -------
    >>> act = DynamicTanh(8, tanhscale_init=0.5)
    >>> act(torch.full((1, 1, 8), 2.0))[0, 0, 0].item() == torch.tanh(torch.tensor(1.0)).item()
    True
    """

    def __init__(self, dim: int, tanhscale_init: float = 0.5) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.full((1,), tanhscale_init))

    def forward(self, x: Tensor) -> Tensor:
        """Applies the activation.

        Arguments
        ---------
        x : torch.Tensor
            Input of any shape.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        return (self.alpha * x).tanh()
