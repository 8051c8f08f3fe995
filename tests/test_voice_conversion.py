"""Voice conversion: kNN-VC reproduces the official golden vectors; the linear
transport moves the source statistics onto the target's; both convert the
same offline and while streaming."""

import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.long_audio import decode_long
from speechbrain_focalcodec.voice_conversion import (
    KNNVoiceConverter,
    LinearTransportConverter,
    knn,
    matching_set,
)
from tests.conftest import GOLDEN, random_codec
from tests.test_golden import ATOL, FEATS_ATOL, assert_close
from tests.test_streaming import stream_decode


@pytest.fixture(scope="module")
def offline():
    return FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")


def test_golden_knn_vc(offline, golden):
    inputs, expected, _ = golden("tiny_50hz")
    references = [inputs["ref0"][0], inputs["ref1"][0]]
    assert_close(
        matching_set(offline, references), expected["vc.matching_set"], FEATS_ATOL, "feats set"
    )
    assert_close(
        matching_set(offline, references, "qfeats"),
        expected["vc.matching_set_qfeats"],
        FEATS_ATOL,
        "qfeats set",
    )
    neighbours = knn(expected["sig1.qfeats"], expected["vc.matching_set"], topk=4)
    assert_close(neighbours, expected["vc.knn"], ATOL, "vc.knn")
    qfeats = offline.codes_to_qfeats(expected["sig1.codes"])
    for key, references_key, splits in [
        ("vc.rec_sig", "vc.matching_set", 1),
        ("vc.rec_sig_splits3", "vc.matching_set", 3),
        ("vc.rec_sig_qfeats_ms", "vc.matching_set_qfeats", 1),
    ]:
        converter = KNNVoiceConverter(expected[references_key], topk=4, num_splits=splits)
        assert_close(offline.feats_to_sig(converter(qfeats)), expected[key], ATOL, key)


def relative_cov_error(converted: torch.Tensor, target: torch.Tensor) -> float:
    expected = torch.cov(target.T.double())
    return float((torch.cov(converted.T.double()) - expected).norm() / expected.norm())


def test_linear_transport_matches_target_statistics(offline, speech):
    """Exact between full-rank Gaussians; on speech features up to what a
    linear map can do (the tiny decompressor's features have rank 48 of 64)."""
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(2, 16, 16, generator=generator)
    source = torch.randn(3000, 16, generator=generator) @ mixing[0] * 0.3 + 1.0
    target = torch.randn(2000, 16, generator=generator) @ mixing[1] + 2.0
    converted = LinearTransportConverter(source, target, regularization=0.0)(source[None])[0]
    assert_close(converted.mean(dim=0), target.mean(dim=0), 1e-4, "mean")
    assert relative_cov_error(converted, target) < 1e-4
    source = offline.sig_to_qfeats(torch.cat(speech[1:6])[None])[0]
    target = matching_set(offline, [speech[0]])  # the other speaker (251)
    converted = LinearTransportConverter(source, target, 1e-6)(source[None])[0]
    assert_close(converted.mean(dim=0), target.mean(dim=0), 1e-4, "speech mean")
    assert relative_cov_error(converted, target) < 0.1
    same = LinearTransportConverter(source, source)
    assert_close(same(source[None])[0], source, 1e-3, "identity")


@pytest.mark.parametrize("method", ["knn", "transport"])
def test_streaming_and_long_conversion_equal_offline(method, speech):
    codec = random_codec("causal", seed=5)
    target = matching_set(codec, [speech[0][:32000]])
    toks = codec.sig_to_toks(speech[2][None, : 24 * 1280 + 700])
    qfeats = codec.toks_to_qfeats(toks)
    if method == "knn":
        converter = KNNVoiceConverter(target, topk=4)
    else:
        converter = LinearTransportConverter(qfeats[0], target)
    offline = codec.feats_to_sig(converter(qfeats))
    assert_close(stream_decode(codec, toks, 2, converter), offline, ATOL, "streamed")
    assert_close(decode_long(codec, toks, 0.5, converter=converter), offline, ATOL, "long")
    assert not torch.allclose(offline, codec.toks_to_sig(toks), atol=1e-3)


def test_official_conversion_keywords(offline, golden):
    """``toks_to_sig``/``codes_to_sig``/``feats_to_sig(..., matching_set=, topk=,
    num_splits=)`` as in the official package: the golden ``vc.*`` outputs."""
    _, expected, meta = golden("tiny_50hz")
    assert "matching_set=vc.matching_set, topk=4" in meta["expected"]["vc.rec_sig"]["call"]
    codes, toks = expected["sig1.codes"], expected["sig1.toks"]
    qfeats = offline.codes_to_qfeats(codes)
    for key, references_key, splits in [
        ("vc.rec_sig", "vc.matching_set", 1),
        ("vc.rec_sig_splits3", "vc.matching_set", 3),
        ("vc.rec_sig_qfeats_ms", "vc.matching_set_qfeats", 1),
    ]:
        keywords = {"matching_set": expected[references_key], "topk": 4, "num_splits": splits}
        assert_close(offline.codes_to_sig(codes, **keywords), expected[key], ATOL, key)
        assert_close(offline.toks_to_sig(toks, **keywords), expected[key], ATOL, key)
        assert_close(offline.feats_to_sig(qfeats, **keywords), expected[key], ATOL, key)
    plain = offline.toks_to_sig(toks, matching_set=None)
    assert torch.equal(plain, offline.toks_to_sig(toks))
    assert not torch.allclose(plain, expected["vc.rec_sig"], atol=1e-3)
    with pytest.raises(ValueError, match="topk"):
        offline.toks_to_sig(toks, matching_set=expected["vc.matching_set"], topk=0)
    with pytest.raises(ValueError, match=r"matching_set` must have shape \[num_points, 64\]"):
        offline.toks_to_sig(toks, matching_set=torch.randn(10, 3))
