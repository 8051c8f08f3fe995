"""Binary spherical quantizer with FocalCodec's token conventions.

SpeechBrain's ``BinarySphericalQuantizer`` (used here for training: straight-
through estimator and entropy loss) is extended with the deterministic
transforms between latents, codes and tokens:

* latents (``lats``): unit-norm vectors of dimension ``D = log2(codebook_size)``;
* codes: ``+-1/sqrt(D)`` on each axis, the sign of the latent (0 maps to -);
* tokens (``toks``): the code's bits read most significant first
  (bit ``i`` is 1 when axis ``i`` is positive).

Authors
 * speechbrain-focalcodec developers 2026
"""

import math

import torch
from speechbrain.lobes.models.bsq import BinarySphericalQuantizer as _BSQ
from torch import Tensor

from speechbrain_focalcodec.lobes.config import records_config

__all__ = ["BinarySphericalQuantizer"]


class BinarySphericalQuantizer(_BSQ):
    """Binary spherical quantizer with an implicit codebook of ``2^D`` codes.

    Arguments
    ---------
    codebook_size : int
        Number of codes, a power of two.
    entropy_loss_weight : float
        Weight of the entropy loss returned by ``forward`` (training).
    diversity_gamma : float
        Weight of the codebook-entropy term of that loss.

    Example
    -------
    >>> quantizer = BinarySphericalQuantizer(codebook_size=16)
    >>> lats = torch.nn.functional.normalize(torch.tensor([[0.5, -0.1, 0.2, -0.7]]), dim=-1)
    >>> toks = quantizer.lats_to_toks(lats)
    >>> toks
    tensor([10])
    >>> quantizer.toks_to_codes(toks)
    tensor([[ 0.5000, -0.5000,  0.5000, -0.5000]])
    >>> torch.equal(quantizer.codes_to_toks(quantizer.lats_to_codes(lats)), toks)
    True
    """

    @records_config
    def __init__(
        self,
        codebook_size: int = 4096,
        entropy_loss_weight: float = 0.1,
        diversity_gamma: float = 1.0,
    ) -> None:
        if codebook_size < 2 or codebook_size & (codebook_size - 1):
            raise ValueError(f"`codebook_size` must be a power of two >= 2, got {codebook_size}")
        super().__init__(int(math.log2(codebook_size)), entropy_loss_weight, diversity_gamma)
        self.codebook_size = codebook_size
        self.code_value = 1.0 / math.sqrt(self.code_dim)
        # The bit weights are derived data: keep them out of checkpoints.
        self.register_buffer("mask", self.mask, persistent=False)

    @property
    def codes(self) -> Tensor:
        """All ``codebook_size`` codes, row ``t`` being the code of token ``t``."""
        return self.codebook * self.code_value

    def lats_to_codes(self, lats: Tensor) -> Tensor:
        """Quantizes latents to codes.

        Arguments
        ---------
        lats : torch.Tensor
            Latents, shape ``[..., D]``.

        Returns
        -------
        codes : torch.Tensor
            Shape ``[..., D]``, entries ``+-1/sqrt(D)``.
        """
        return torch.where(lats > 0, self.code_value, -self.code_value).to(lats.dtype)

    def lats_to_toks(self, lats: Tensor) -> Tensor:
        """Quantizes latents to tokens.

        Arguments
        ---------
        lats : torch.Tensor
            Latents, shape ``[..., D]``.

        Returns
        -------
        toks : torch.Tensor
            Shape ``[...]``, int64 in ``[0, codebook_size)``.
        """
        return ((lats > 0).long() * self.mask).sum(dim=-1)

    def codes_to_toks(self, codes: Tensor) -> Tensor:
        """Maps codes to their tokens.

        Arguments
        ---------
        codes : torch.Tensor
            Codes, shape ``[..., D]``.

        Returns
        -------
        toks : torch.Tensor
            Shape ``[...]``, int64.
        """
        return self.lats_to_toks(codes)

    def toks_to_codes(self, toks: Tensor) -> Tensor:
        """Maps tokens to their codes.

        Arguments
        ---------
        toks : torch.Tensor
            Tokens, shape ``[...]``, integers in ``[0, codebook_size)``.

        Returns
        -------
        codes : torch.Tensor
            Shape ``[..., D]``, float32.
        """
        bits = torch.bitwise_and(toks.long()[..., None], self.mask) != 0
        return torch.where(bits, self.code_value, -self.code_value).float()
