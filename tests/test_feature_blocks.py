"""Long inputs go through the WavLM feature extractor in blocks of output frames
(``wavlm.BLOCK_FRAMES``): every frame is computed from the same samples as from
the whole input, padded batches included, for the offline and causal blocks."""

import pytest
import torch

from speechbrain_focalcodec.lobes import wavlm
from tests.conftest import random_codec


@pytest.mark.parametrize("variant", ["50hz", "causal"])
@pytest.mark.parametrize("block", [1, 7, 64])
def test_blocks_equal_the_whole_input(variant, block, speech, monkeypatch):
    extractor = random_codec(variant, seed=2).encoder.feature_extractor
    sig = torch.zeros(2, 48000)
    sig[0], sig[1, :30001] = speech[0][:48000], speech[1][:30001]
    num_samples = torch.tensor([48000, 30001])
    with torch.no_grad():
        monkeypatch.setattr(wavlm, "BLOCK_FRAMES", 10**9)  # the whole input at once
        whole, counts = extractor(sig, num_samples)
        monkeypatch.setattr(wavlm, "BLOCK_FRAMES", block)
        got, got_counts = extractor(sig, num_samples)
        alone, _ = extractor(sig[1:, :30001])
    assert got.shape == whole.shape and torch.equal(got_counts, counts)
    assert torch.allclose(got, whole, atol=1e-5)
    assert torch.allclose(got[1:, :, : alone.shape[2]], alone, atol=1e-5)
    with torch.enable_grad():  # gradients flow through the blocks
        x = sig.clone().requires_grad_()
        extractor(x, num_samples)[0].square().mean().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
