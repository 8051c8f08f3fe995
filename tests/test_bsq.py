"""Binary spherical quantizer: token and code conventions, training forward."""

import math

import torch

from speechbrain_focalcodec.lobes.bsq import BinarySphericalQuantizer


def test_every_token_roundtrips():
    quantizer = BinarySphericalQuantizer(codebook_size=256)
    toks = torch.arange(256)
    codes = quantizer.toks_to_codes(toks)
    assert torch.allclose(codes.abs(), torch.full_like(codes, 1 / math.sqrt(8)))
    assert torch.equal(quantizer.codes_to_toks(codes), toks)
    assert torch.equal(quantizer.codes, codes)
    assert torch.allclose(codes.norm(dim=-1), torch.ones(256))


def test_most_significant_bit_first():
    quantizer = BinarySphericalQuantizer(codebook_size=8)
    lats = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0], [0.0, 0.0, 0.0]])
    assert quantizer.lats_to_toks(lats).tolist() == [4, 1, 0]  # a latent of 0 gives bit 0


def test_codes_are_signs_of_latents():
    quantizer = BinarySphericalQuantizer(codebook_size=4096)
    lats = torch.nn.functional.normalize(torch.randn(3, 50, 12), dim=-1)
    codes = quantizer.lats_to_codes(lats)
    assert torch.equal(codes > 0, lats > 0)
    assert torch.equal(quantizer.toks_to_codes(quantizer.lats_to_toks(lats)), codes)


def test_no_state_in_checkpoints():
    assert BinarySphericalQuantizer(codebook_size=65536).state_dict() == {}


def test_training_forward_straight_through():
    """SpeechBrain's training forward: quantized output, entropy loss, gradients."""
    quantizer = BinarySphericalQuantizer(codebook_size=64, entropy_loss_weight=0.1)
    with torch.enable_grad():
        lats = torch.randn(2, 20, 6, requires_grad=True)
        quantized, toks, loss = quantizer(lats)
        (quantized.sum() + loss).backward()
    assert torch.equal(toks, quantizer.lats_to_toks(lats.detach()))
    assert torch.allclose(quantized.detach(), quantizer.lats_to_codes(lats.detach()))
    assert lats.grad is not None and lats.grad.abs().sum() > 0
