"""The DASB tokenizer adapter."""

import pytest
import torch

from speechbrain_focalcodec.tokenizer import FocalCodecTokenizer
from tests.conftest import GOLDEN, random_codec


def test_dasb_interface(speech):
    codec = random_codec("12_5hz")
    tokenizer = FocalCodecTokenizer(codec=codec)
    sig = torch.stack([speech[3][:32000], speech[4][:32000]])
    lens = torch.tensor([1.0, 0.6])
    tokens = tokenizer.sig_to_tokens(sig, lens, num_codebooks=1)
    assert tokens.shape == (2, 25, 1) and tokens.dtype == torch.int64
    assert torch.equal(tokens[..., 0], codec.sig_to_toks(sig, lens))
    toks_lens = codec.toks_lens(lens, sig.shape[1])
    assert torch.equal(
        tokenizer.tokens_to_sig(tokens, toks_lens), codec.toks_to_sig(tokens[..., 0], toks_lens)
    )
    assert torch.equal(tokenizer.tokens_to_sig(tokens[..., 0]), codec.toks_to_sig(tokens[..., 0]))
    embeddings = tokenizer.get_pretrained_embeddings(vocab_size=8192, num_codebooks=1)
    assert embeddings.shape == (8192, 13)
    assert torch.equal(embeddings[tokens[0, :, 0]], codec.sig_to_codes(sig[:1])[0])
    assert (tokenizer.sample_rate, tokenizer.num_codebooks, tokenizer.vocab_size) == (
        16000,
        1,
        8192,
    )


def test_frozen_and_eval(speech):
    tokenizer = FocalCodecTokenizer(source=GOLDEN / "tiny_causal").train()
    assert not tokenizer.codec.training
    assert not any(p.requires_grad for p in tokenizer.parameters())


def test_single_codebook_only():
    tokenizer = FocalCodecTokenizer(codec=random_codec("50hz"))
    with pytest.raises(ValueError, match="single codebook"):
        tokenizer.sig_to_tokens(torch.zeros(1, 1600), num_codebooks=2)
    with pytest.raises(ValueError, match="single codebook"):
        tokenizer.tokens_to_sig(torch.zeros(1, 5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="not 1024"):
        tokenizer.get_pretrained_embeddings(vocab_size=1024)
    with pytest.raises(ValueError, match="exactly one"):
        FocalCodecTokenizer()
