"""Bad inputs to the Python API get typed exceptions with clear messages."""

import pytest
import torch

from tests.conftest import random_codec


@pytest.fixture(scope="module")
def codec():
    return random_codec("50hz")


@pytest.mark.parametrize(
    "sig, error, message",
    [
        (torch.zeros(16000), ValueError, r"shape \[batch, samples\]"),
        (torch.zeros(1, 2, 16000), ValueError, "mix multichannel audio down to mono"),
        (torch.zeros(1, 16000, dtype=torch.int16), TypeError, "floating point waveform"),
        (torch.zeros(1, 0), ValueError, "empty"),
        (torch.zeros(0, 100), ValueError, "empty"),
        (torch.full((1, 1600), float("nan")), ValueError, "NaN or infinite"),
        (torch.tensor([[0.0, float("inf")] * 800]), ValueError, "NaN or infinite"),
        ([[0.0] * 1600], TypeError, "torch.Tensor"),
    ],
)
def test_bad_signals(codec, sig, error, message):
    with pytest.raises(error, match=message):
        codec.sig_to_toks(sig)


@pytest.mark.parametrize(
    "lens, error, message",
    [
        (torch.tensor([1.0]), ValueError, r"shape \[2\]"),
        (torch.tensor([1.0, 0.0]), ValueError, r"\(0, 1\]"),
        (torch.tensor([1.0, 1.5]), ValueError, r"\(0, 1\]"),
        (torch.tensor([1.0, float("nan")]), ValueError, r"\(0, 1\]"),
        (torch.tensor([16000, 8000]), TypeError, "floating point"),
    ],
)
def test_bad_lens(codec, lens, error, message):
    with pytest.raises(error, match=message):
        codec.sig_to_sig(torch.zeros(2, 16000), lens)


@pytest.mark.parametrize(
    "toks, error, message",
    [
        (torch.tensor([[0, 8192]]), ValueError, r"\[0, 8192\)"),
        (torch.tensor([[-1, 3]]), ValueError, r"\[0, 8192\)"),
        (torch.tensor([[0.0, 3.0]]), TypeError, "integer"),
        (torch.tensor([[True, False]]), TypeError, "integer"),
        (torch.tensor([1, 2, 3]), ValueError, r"\[batch, tokens\]"),
        (torch.zeros(1, 0, dtype=torch.long), ValueError, "empty"),
    ],
)
def test_bad_tokens(codec, toks, error, message):
    with pytest.raises(error, match=message):
        codec.toks_to_sig(toks)


def test_bad_features_and_codes(codec):
    with pytest.raises(ValueError, match=r"\[batch, time, 13\]"):
        codec.codes_to_sig(torch.zeros(1, 10, 12))
    with pytest.raises(ValueError, match=r"\[batch, time, 64\]"):
        codec.feats_to_toks(torch.zeros(1, 10, 32))
    with pytest.raises(TypeError, match="floating point"):
        codec.feats_to_sig(torch.zeros(1, 10, 64, dtype=torch.long))


def test_documented_edge_cases(codec):
    """Tiny, silent, clipped and float64 inputs are valid and give finite output."""
    for sig in (
        torch.zeros(1, 1),
        torch.zeros(1, 400),
        torch.ones(1, 3200),
        torch.sign(torch.randn(1, 3200)),
        torch.randn(1, 3200, dtype=torch.float64).clamp(-1, 1),
    ):
        toks, codes, rec = codec(sig)
        assert toks.shape[1] >= 1 and torch.isfinite(rec).all()
        assert rec.shape[1] == sig.shape[1]


@pytest.mark.parametrize(
    "dtype", [torch.uint8, torch.int16, torch.uint16, torch.int32, torch.uint32]
)
def test_tokens_of_any_integer_dtype(codec, dtype):
    """Token files store uint16 (extract-tokens' .npy): every integer dtype that holds the
    tokens decodes like int64 (uint16 used to fail: "min_all" not implemented)."""
    toks = codec.sig_to_toks(0.1 * torch.randn(1, 3200))
    toks = toks % 256 if dtype == torch.uint8 else toks
    expected = codec.toks_to_sig(toks)
    assert torch.equal(codec.toks_to_sig(toks.to(dtype)), expected)
    assert torch.equal(codec.toks_to_codes(toks.to(dtype)), codec.toks_to_codes(toks))
    if torch.iinfo(dtype).max >= 8192:
        with pytest.raises(ValueError, match=r"\[0, 8192\)"):
            codec.toks_to_sig(torch.full((1, 3), 8192).to(dtype))
