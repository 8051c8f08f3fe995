"""Embedding of FocalCodec tokens for downstream models.

FocalCodec has a single codebook of ``2^D`` entries; the code of token ``t``
is the point of the binary hypercube ``+-1/sqrt(D)`` whose bits spell ``t``.
Initialising the embedding table with these codes (``FocalCodec.codebook``,
``FocalCodecTokenizer.get_pretrained_embeddings()``) gives a downstream model
the codec's own geometry of the tokens from the first step.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = ["TokenEmbedding"]


class TokenEmbedding(nn.Module):
    """Lookup table for the tokens of one codebook.

    Arguments
    ---------
    num_tokens : int
        Entries of the codebook (``2^D``).
    embedding_dim : int
        Size of each embedding (``D`` to start from the codebook).
    codebook : torch.Tensor, optional
        ``[num_tokens, embedding_dim]`` initial table, e.g. the BSQ codes;
        default: random normal initialisation.
    freeze : bool
        Whether the table stays fixed during training.

    Example
    -------
    >>> from speechbrain_focalcodec import FocalCodec
    >>> codec = FocalCodec.from_pretrained("tests/golden/tiny_50hz")
    >>> embedding = TokenEmbedding(8192, 13, codebook=codec.codebook, freeze=True)
    >>> toks = torch.tensor([[0, 1, 8191], [5, 0, 0]])
    >>> embs, lens = embedding(toks, torch.tensor([1.0, 1 / 3]))
    >>> embs.shape, lens
    (torch.Size([2, 3, 13]), tensor([1.0000, 0.3333]))
    >>> torch.equal(embs[0], codec.toks_to_codes(toks)[0])
    True
    >>> sum(p.numel() for p in embedding.parameters() if p.requires_grad)
    0
    """

    def __init__(
        self,
        num_tokens: int,
        embedding_dim: int,
        codebook: Optional[Tensor] = None,
        freeze: bool = False,
    ) -> None:
        super().__init__()
        if num_tokens < 1 or embedding_dim < 1:
            raise ValueError(
                f"num_tokens and embedding_dim must be positive, got {num_tokens}, {embedding_dim}"
            )
        self.num_tokens = num_tokens
        self.embedding_dim = embedding_dim
        self.embedding = nn.Embedding(num_tokens, embedding_dim)
        if codebook is not None:
            self.load_codebook(codebook)
        self.freeze = freeze
        self.embedding.weight.requires_grad_(not freeze)

    @torch.no_grad()
    def load_codebook(self, codebook: Tensor) -> None:
        """Copies ``codebook`` into the table.

        Arguments
        ---------
        codebook : torch.Tensor
            ``[num_tokens, embedding_dim]``.
        """
        expected = (self.num_tokens, self.embedding_dim)
        if not isinstance(codebook, Tensor) or tuple(codebook.shape) != expected:
            shape = list(codebook.shape) if isinstance(codebook, Tensor) else type(codebook)
            raise ValueError(
                f"The codebook must have shape {list(expected)} (num_tokens, embedding_dim), "
                f"got {shape}"
            )
        self.embedding.weight.copy_(codebook)

    def forward(
        self, toks: Tensor, lens: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Embeds tokens.

        Arguments
        ---------
        toks : torch.Tensor
            Integer tokens ``[B, N]`` in ``[0, num_tokens)``.
        lens : torch.Tensor, optional
            Relative lengths, passed through.

        Returns
        -------
        embs : torch.Tensor
            ``[B, N, embedding_dim]``.
        lens : torch.Tensor or None
            ``lens``.
        """
        if toks.is_floating_point() or toks.dtype == torch.bool:
            raise TypeError(f"`toks` must be an integer tensor, got {toks.dtype}")
        toks = toks.long()  # any integer dtype (token files store uint16)
        if toks.numel() > 0:
            low, high = int(toks.min()), int(toks.max())
            if low < 0 or high >= self.num_tokens:
                raise ValueError(
                    f"`toks` must lie in [0, {self.num_tokens}), got values in [{low}, {high}]"
                )
        return self.embedding(toks), lens
