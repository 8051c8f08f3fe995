"""The token embedding lobe."""

import pytest
import torch

from speechbrain_focalcodec.probes.token_embedding import TokenEmbedding
from tests.conftest import random_codec


def test_codebook_initialisation_frozen_or_trainable():
    codec = random_codec("50hz")
    toks = torch.randint(codec.codebook_size, (2, 30))
    for freeze in (True, False):
        embedding = TokenEmbedding(codec.codebook_size, codec.code_dim, codec.codebook, freeze)
        with torch.enable_grad():
            embs, _ = embedding(toks)
            assert torch.equal(embs, codec.toks_to_codes(toks))
            assert embs.requires_grad is not freeze
            if not freeze:
                embs.sum().backward()
                grad = embedding.embedding.weight.grad
                assert grad[toks.unique()].abs().sum() > 0
                assert int((grad.abs().sum(1) > 0).sum()) == toks.unique().numel()


def test_random_initialisation_and_errors():
    embedding = TokenEmbedding(16, 4)
    assert embedding(torch.tensor([[0, 15]]))[0].shape == (1, 2, 4)
    with pytest.raises(ValueError, match=r"must lie in \[0, 16\)"):
        embedding(torch.tensor([[3, 16]]))
    with pytest.raises(TypeError, match="integer"):
        embedding(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"shape \[16, 4\]"):
        TokenEmbedding(16, 4, codebook=torch.zeros(16, 13))


def test_uint16_tokens_of_token_files():
    """extract-tokens writes uint16 .npy files: they embed like int64 tokens."""
    emb = TokenEmbedding(8192, 13)
    toks = torch.tensor([[0, 5, 8191], [7, 7, 1]])
    assert torch.equal(emb(toks.to(torch.uint16))[0], emb(toks)[0])
    with pytest.raises(ValueError, match=r"\[0, 8192\)"):
        emb(torch.tensor([[8192]]).to(torch.uint16))
