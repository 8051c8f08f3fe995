"""ONNX export: onnxruntime reproduces PyTorch and the official golden vectors,
offline (any length) and streaming (state as explicit inputs/outputs, the
first chunk included)."""

import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.onnx_export import OnnxStream, export_onnx, onnx_session
from tests.conftest import GOLDEN, random_codec
from tests.test_golden import ATOL, assert_close, assert_toks
from tests.test_streaming import _one_thread  # noqa: F401  (streaming-sized chunks)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    def export(codec):
        return export_onnx(codec, tmp_path_factory.mktemp("onnx"))

    return export


@pytest.mark.parametrize("variant", ["tiny_50hz", "12_5hz"])
def test_offline_encoder_decoder(variant, exported, golden, speech):
    codec = (
        FocalCodec.from_pretrained(GOLDEN / variant)
        if variant.startswith("tiny")
        else random_codec(variant)
    )
    paths = exported(codec)
    encoder, decoder = onnx_session(paths["encoder"], 1), onnx_session(paths["decoder"], 1)
    # Other lengths than the traced one, a batch of two.
    for sig in (speech[3][None, :20011], torch.stack([speech[4][:41000], speech[6][:41000]])):
        toks = torch.from_numpy(encoder.run(None, {"sig": sig.numpy()})[0])
        assert_toks(toks, codec.sig_to_toks(sig), codec.sig_to_lats(sig), "onnx toks")
        rec = torch.from_numpy(decoder.run(None, {"toks": toks.numpy()})[0])
        assert_close(rec, codec.toks_to_sig(toks), ATOL, "onnx decoder")
    if variant == "tiny_50hz":
        inputs, expected, _ = golden("tiny_50hz")
        toks = torch.from_numpy(encoder.run(None, {"sig": inputs["sig1"].numpy()})[0])
        assert_toks(toks, expected["sig1.toks"], expected["sig1.lats"], "golden toks")
        rec = torch.from_numpy(decoder.run(None, {"toks": expected["sig1.toks"].numpy()})[0])
        assert_close(rec, expected["sig1.rec_sig_from_toks"], ATOL, "golden rec_sig")


def test_streaming_graphs(exported, golden, speech):
    codec = FocalCodec.from_pretrained(GOLDEN / "tiny_causal")
    paths = exported(codec)
    inputs, expected, _ = golden("tiny_causal")
    encoder = OnnxStream(paths["encoder"], threads=1)
    assert encoder.chunk == codec.chunk_size and "state.encoder.step" in encoder.state_names
    chunks = inputs["sig1pad"].split(codec.chunk_size, dim=1)
    toks = torch.cat([encoder(chunk) for chunk in chunks], dim=1)
    lats = codec.sig_to_lats(inputs["sig1pad"])
    assert_toks(toks, expected["stream.toks"], lats, "onnx stream.toks")
    decoder = OnnxStream(paths["decoder"], threads=1)
    rec = torch.cat([decoder(chunk) for chunk in expected["stream.toks"].split(4, dim=1)], dim=1)
    assert_close(rec, expected["stream.rec_sig"], ATOL, "onnx stream.rec_sig")
    # The first chunk from the all-zero state is the PyTorch first chunk.
    first = codec.stream_decoder()(expected["stream.toks"][:, :4])
    assert_close(
        OnnxStream(paths["decoder"], threads=1)(expected["stream.toks"][:, :4]),
        first,
        ATOL,
        "chunk 0",
    )
    # Two independent streams at once.
    sig = torch.stack([speech[7][: 5 * codec.chunk_size], speech[8][: 5 * codec.chunk_size]])
    pair = OnnxStream(paths["encoder"], batch_size=2, threads=1)
    toks = torch.cat([pair(chunk) for chunk in sig.split(codec.chunk_size, dim=1)], dim=1)
    assert_toks(toks, codec.sig_to_toks(sig), codec.sig_to_lats(sig), "onnx batch of streams")
    # A new stream in slot 1 while slot 0 goes on.
    pair.reset([1])
    other = speech[9][: 3 * codec.chunk_size]
    rows = torch.stack([speech[7][5 * codec.chunk_size : 8 * codec.chunk_size], other])
    more = torch.cat([pair(chunk) for chunk in rows.split(codec.chunk_size, dim=1)], dim=1)
    first = speech[7][None, : 8 * codec.chunk_size]
    whole = torch.cat([toks[:1], more[:1]], dim=1)
    assert_toks(whole, codec.sig_to_toks(first), codec.sig_to_lats(first), "slot 0 goes on")
    alone = codec.sig_to_toks(other[None])
    assert_toks(more[1:], alone, codec.sig_to_lats(other[None]), "slot 1 restarted")
    with pytest.raises(IndexError, match="out of range"):
        pair.reset([2])


def test_causal_vocos_stream_graph(exported, speech):
    """A causal Vocos decoder exports as a streaming graph too (its inverse
    STFT, the package's only one, switches to real operators when traced) and
    matches the PyTorch stream."""
    codec = FocalCodec.from_pretrained(GOLDEN / "extra" / "tiny_causal_vocos")
    paths = exported(codec)
    sig = speech[2][None, : 6 * codec.chunk_size]
    toks = codec.sig_to_toks(sig)
    decoder = OnnxStream(paths["decoder"], threads=1)
    unit = codec.chunk_size // codec.samples_per_token
    rec = torch.cat([decoder(chunk) for chunk in toks.split(unit, dim=1)], dim=1)
    assert_close(rec, codec.toks_to_sig(toks), ATOL, "onnx causal Vocos stream")
