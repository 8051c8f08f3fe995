"""Golden vectors for architecture options the shared vectors do not cover:
25 and 12.5 Hz down-scaling, post-norm, layer scale, normalized modulator,
three focal levels, causal lookahead of one frame with small windows,
a causal Vocos and an offline WaveNeXt decoder.

Made with the official implementation like tests/golden/tiny_* (see each
meta.json). Each is also checked as one padded batch of both inputs.
"""

import json

import pytest
import torch
from safetensors.torch import load_file

from speechbrain_focalcodec import FocalCodec
from tests.conftest import GOLDEN
from tests.test_golden import ATOL, FEATS_ATOL, assert_close, assert_toks

CASES = sorted(path.name for path in (GOLDEN / "extra").iterdir())


@pytest.fixture(scope="module", params=CASES)
def case(request):
    directory = GOLDEN / "extra" / request.param
    codec = FocalCodec.from_pretrained(directory)
    inputs = load_file(str(directory / "inputs.safetensors"))
    expected = load_file(str(directory / "expected.safetensors"))
    config = json.loads((directory / "config.json").read_text())
    return codec, inputs, expected, config


def test_options_are_exercised():
    assert CASES == [
        "tiny_12_5hz",
        "tiny_25hz",
        "tiny_causal_options",
        "tiny_causal_vocos",
        "tiny_options",
        "tiny_wavenext_offline",
    ]


@pytest.mark.parametrize("key", ["sig1", "sig2"])
def test_matches_reference(case, key):
    codec, inputs, expected, _ = case
    sig = inputs[key]
    lats = expected[f"{key}.lats"]
    assert_close(codec.sig_to_feats(sig), expected[f"{key}.feats"], FEATS_ATOL, "feats")
    assert_close(codec.sig_to_lats(sig), lats, ATOL, "lats")
    assert_toks(codec.sig_to_toks(sig), expected[f"{key}.toks"], lats, "toks")
    assert_close(codec.sig_to_qfeats(sig), expected[f"{key}.qfeats"], ATOL, "qfeats")
    assert_close(codec.sig_to_sig(sig), expected[f"{key}.rec_sig"], ATOL, "rec_sig")
    from_toks = codec.toks_to_sig(expected[f"{key}.toks"])
    assert_close(from_toks, expected[f"{key}.rec_sig_from_toks"], ATOL, "toks_to_sig")
    from_feats = codec.feats_to_sig(expected[f"{key}.feats"])
    assert_close(from_feats, expected[f"{key}.rec_sig_from_feats"], ATOL, "feats_to_sig")


def test_padded_batch(case):
    codec, inputs, expected, _ = case
    long, short = inputs["sig1"][0], inputs["sig2"][0]
    batch = torch.zeros(2, len(long))
    batch[0], batch[1, : len(short)] = long, short
    lens = torch.tensor([1.0, len(short) / len(long)])
    toks = codec.sig_to_toks(batch, lens)
    rec = codec.sig_to_sig(batch, lens)
    for row, key in enumerate(["sig1", "sig2"]):
        count = expected[f"{key}.toks"].shape[1]
        lats = expected[f"{key}.lats"]
        assert_toks(toks[row : row + 1, :count], expected[f"{key}.toks"], lats, f"{key} toks")
        samples = expected[f"{key}.rec_sig"].shape[1]
        assert_close(rec[row : row + 1, :samples], expected[f"{key}.rec_sig"], ATOL, f"{key} rec")
