"""Numerical equivalence with the official implementation (golden vectors).

Tolerances follow tests/golden/README.md: features within 1e-4, latents,
decompressed features and signals within 1e-5, tokens and codes identical
wherever the reference latent is farther than 1e-4 from zero.
"""

import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from tests.conftest import GOLDEN

FEATS_ATOL = 1e-4
ATOL = 1e-5
LAT_MARGIN = 1e-4


def assert_close(got: torch.Tensor, expected: torch.Tensor, atol: float, what: str) -> None:
    assert got.shape == expected.shape, f"{what}: shape {list(got.shape)} != {list(expected.shape)}"
    error = (got - expected).abs().max().item()
    assert error <= atol, f"{what}: max abs error {error:.3g} > {atol:g}"


def assert_toks(got: torch.Tensor, expected: torch.Tensor, lats: torch.Tensor, what: str) -> None:
    """Tokens must match wherever no reference latent is within the margin of 0."""
    assert got.shape == expected.shape, f"{what}: shape {list(got.shape)}"
    reliable = (lats.abs() > LAT_MARGIN).all(dim=-1)
    assert reliable.float().mean() > 0.95, "the margin hides too many tokens"
    mismatches = ((got != expected) & reliable).sum().item()
    assert mismatches == 0, f"{what}: {mismatches} token mismatches"


def assert_codes(got: torch.Tensor, expected: torch.Tensor, lats: torch.Tensor, what: str) -> None:
    reliable = lats.abs() > LAT_MARGIN
    assert torch.equal(got[reliable], expected[reliable]), f"{what}: code mismatches"


MODELS = ["tiny_50hz", "tiny_50hz_v001layout", "tiny_causal"]


@pytest.fixture(scope="module", params=MODELS)
def case(request, golden):
    name = request.param
    data = "tiny_50hz" if name == "tiny_50hz_v001layout" else name
    inputs, expected, meta = golden(data)
    codec = FocalCodec.from_pretrained(GOLDEN / name)
    return codec, inputs, expected, meta


def test_properties(case):
    codec, _, _, meta = case
    assert codec.sample_rate_input == meta["sample_rate_input"]
    assert codec.sample_rate_output == meta["sample_rate_output"]
    assert codec.causal == meta["causal"]
    assert codec.token_rate == meta["token_rate_hz"]
    assert codec.codebook_size == meta["codebook_size"]
    assert codec.chunk_size == 1280
    assert codec.latency == (80.0 if meta["causal"] else None)
    assert codec.bitrate == meta["token_rate_hz"] * codec.code_dim


def test_single_utterance(case):
    codec, inputs, expected, _ = case
    sig, lats = inputs["sig1"], expected["sig1.lats"]
    assert_close(codec.sig_to_feats(sig), expected["sig1.feats"], FEATS_ATOL, "feats")
    assert_close(codec.sig_to_lats(sig), lats, ATOL, "lats")
    assert_toks(codec.sig_to_toks(sig), expected["sig1.toks"], lats, "toks")
    assert_codes(codec.sig_to_codes(sig), expected["sig1.codes"], lats, "codes")
    assert_close(codec.sig_to_qfeats(sig), expected["sig1.qfeats"], ATOL, "qfeats")
    assert_close(codec.sig_to_sig(sig), expected["sig1.rec_sig"], ATOL, "rec_sig")


def test_transforms_from_intermediates(case):
    """Every <x>_to_<y> reproduces the reference from the reference's own inputs."""
    codec, _, expected, _ = case
    feats, toks, codes = expected["sig1.feats"], expected["sig1.toks"], expected["sig1.codes"]
    lats = expected["sig1.lats"]
    assert_close(codec.feats_to_lats(feats), lats, ATOL, "feats_to_lats")
    assert_toks(codec.feats_to_toks(feats), toks, lats, "feats_to_toks")
    assert_codes(codec.feats_to_codes(feats), codes, lats, "feats_to_codes")
    assert_close(codec.feats_to_qfeats(feats), expected["sig1.qfeats"], ATOL, "feats_to_qfeats")
    assert torch.equal(codec.lats_to_toks(lats), toks)
    assert torch.equal(codec.lats_to_codes(lats), codes)
    assert torch.equal(codec.toks_to_codes(toks), codes)
    assert torch.equal(codec.codes_to_toks(codes), toks)
    for qfeats in (
        codec.toks_to_qfeats(toks),
        codec.codes_to_qfeats(codes),
        codec.lats_to_qfeats(lats),
    ):
        assert_close(qfeats, expected["sig1.qfeats"], ATOL, "qfeats")
    from_toks = expected["sig1.rec_sig_from_toks"]
    assert_close(codec.toks_to_sig(toks), from_toks, ATOL, "toks_to_sig")
    assert_close(codec.codes_to_sig(codes), from_toks, ATOL, "codes_to_sig")
    assert_close(
        codec.feats_to_sig(expected["sig1.qfeats"]), from_toks, ATOL, "feats_to_sig(qfeats)"
    )
    assert_close(
        codec.feats_to_sig(feats), expected["sig1.rec_sig_from_feats"], ATOL, "feats_to_sig"
    )


def test_forward_matches_transforms(case):
    codec, inputs, expected, _ = case
    toks, codes, rec_sig = codec(inputs["sig1"])
    assert torch.equal(toks, codec.sig_to_toks(inputs["sig1"]))
    assert torch.equal(codes, codec.sig_to_codes(inputs["sig1"]))
    assert_close(rec_sig, expected["sig1.rec_sig"], ATOL, "forward rec_sig")


def test_unpadded_batch(case):
    """A batch without lengths (no padding semantics) matches the reference."""
    codec, inputs, expected, _ = case
    batch = inputs["batch"]
    lats = codec.sig_to_lats(batch)
    assert_close(codec.sig_to_feats(batch), expected["batch_nolen.feats"], FEATS_ATOL, "feats")
    assert_toks(codec.sig_to_toks(batch), expected["batch_nolen.toks"], lats, "toks")
    assert_close(codec.sig_to_sig(batch), expected["batch_nolen.rec_sig"], ATOL, "rec_sig")


def test_padded_batch_equals_single(case):
    """With lengths, the padded item equals the reference of the utterance alone
    (where the reference's own batch differs, see meta.json), and the full-length
    item equals the reference batch row."""
    codec, inputs, expected, _ = case
    batch, lens = inputs["batch"], inputs["batch_length"]
    feats = codec.sig_to_feats(batch, lens)
    toks = codec.sig_to_toks(batch, lens)
    rec = codec.sig_to_sig(batch, lens)
    lats = codec.sig_to_lats(batch, lens)
    frames = expected["single_b.feats"].shape[1]
    samples = expected["single_b.rec_sig"].shape[1]
    assert_close(feats[1:, :frames], expected["single_b.feats"], FEATS_ATOL, "single_b feats")
    assert_toks(toks[1:, :frames], expected["single_b.toks"], lats[1:, :frames], "single_b toks")
    assert_close(rec[1:, :samples], expected["single_b.rec_sig"], ATOL, "single_b rec_sig")
    assert feats[1, frames:].abs().max() == 0 and rec[1, samples:].abs().max() == 0
    assert (toks[1, frames:] == 0).all()
    assert_close(feats[:1], expected["batch.feats"][:1], FEATS_ATOL, "row 0 feats")
    assert_toks(toks[:1], expected["batch.toks"][:1], lats[:1], "row 0 toks")
    assert_close(rec[:1], expected["batch.rec_sig"][:1], ATOL, "row 0 rec_sig")
    assert_close(
        codec.toks_to_sig(expected["batch.toks"]),
        expected["batch.rec_sig_from_toks"],
        ATOL,
        "toks_to_sig",
    )


def test_reference_batch_leaks_padding(golden):
    """The reason for exact batching: the reference's padded item differs from
    the same utterance alone, ours does not (checked above)."""
    _, expected, _ = golden("tiny_50hz")
    frames = expected["single_b.toks"].shape[1]
    differing = (expected["batch.toks"][1, :frames] != expected["single_b.toks"][0]).sum()
    assert differing > 0


def test_causal_chunk_padded_input(golden):
    """Causal model on a chunk-aligned input: the offline path reproduces the
    reference (offline and streaming) outputs."""
    inputs, expected, _ = golden("tiny_causal")
    codec = FocalCodec.from_pretrained(GOLDEN / "tiny_causal")
    sig = inputs["sig1pad"]
    lats = codec.sig_to_lats(sig)
    assert_close(codec.sig_to_feats(sig), expected["sig1pad.feats"], FEATS_ATOL, "feats")
    assert_toks(codec.sig_to_toks(sig), expected["sig1pad.toks"], lats, "toks")
    assert_toks(codec.sig_to_toks(sig), expected["stream.toks"], lats, "streamed toks")
    assert_close(codec.sig_to_qfeats(sig), expected["sig1pad.qfeats"], ATOL, "qfeats")
    assert_close(codec.sig_to_sig(sig), expected["sig1pad.rec_sig"], ATOL, "rec_sig")
    assert_close(
        codec.toks_to_sig(expected["stream.toks"]),
        expected["stream.rec_sig"],
        ATOL,
        "streamed rec_sig",
    )
    # Frames of full chunks do not depend on what follows them.
    full = expected["sig1.feats"].shape[1] // 4 * 4
    assert_close(
        codec.sig_to_feats(inputs["sig1"])[:, :full],
        expected["sig1pad.feats"][:, :full],
        FEATS_ATOL,
        "causality",
    )
