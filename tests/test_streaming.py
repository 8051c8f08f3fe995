"""Streaming with the causal codec: golden vectors of the official streaming
loop, equality with the offline transforms, independent streams, clear errors."""

import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.lobes.streaming import DecompressorStream, WavLMStream
from speechbrain_focalcodec.voice_conversion import KNNVoiceConverter
from tests.conftest import GOLDEN, random_codec
from tests.test_golden import ATOL, FEATS_ATOL, assert_close, assert_toks


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Chunks of 80 ms are too small to gain from intra-op threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def causal():
    return FocalCodec.from_pretrained(GOLDEN / "tiny_causal")


def run_stream(stream, x, unit, chunks_per_call=1):
    """Feeds ``x`` in calls of ``chunks_per_call * unit`` items, the rest to flush()."""
    step = chunks_per_call * unit
    full = x.shape[1] // step * step
    outputs = [stream(x[:, i : i + step]) for i in range(0, full, step)]
    if full < x.shape[1]:
        outputs.append(stream.flush(x[:, full:]))
    return torch.cat(outputs, dim=1)


def stream_encode(codec, sig, chunks_per_call=1):
    enc = codec.stream_encoder(batch_size=sig.shape[0])
    return run_stream(enc, sig, codec.chunk_size, chunks_per_call)


def stream_decode(codec, toks, chunks_per_call=1, converter=None):
    dec = codec.stream_decoder(batch_size=toks.shape[0], converter=converter)
    return run_stream(dec, toks, dec.tokens_per_chunk, chunks_per_call)


def test_golden_stream(causal, golden):
    inputs, expected, _ = golden("tiny_causal")
    toks = stream_encode(causal, inputs["sig1pad"])
    lats = causal.sig_to_lats(inputs["sig1pad"])
    assert_toks(toks, expected["stream.toks"], lats, "stream.toks")
    rec = stream_decode(causal, expected["stream.toks"])
    assert_close(rec, expected["stream.rec_sig"], ATOL, "stream.rec_sig")


def test_golden_lobe_streams(causal, golden):
    """The encoder and decompressor streams alone reproduce the official
    streamed features (the attention window of 32 frames is exceeded)."""
    inputs, expected, _ = golden("tiny_causal")
    encoder = WavLMStream(causal.encoder)
    state, feats = encoder.initial_state(1), []
    for chunk in inputs["sig1pad"].split(causal.chunk_size, dim=1):
        out, state = encoder(chunk, state)
        feats.append(out)
    assert_close(torch.cat(feats, dim=1), expected["stream.feats"], FEATS_ATOL, "stream.feats")
    decompressor = DecompressorStream(causal.decompressor)
    codes = causal.toks_to_codes(expected["stream.toks"])
    state, qfeats = decompressor.initial_state(1), []
    for chunk in codes.split(4, dim=1):
        out, state = decompressor(chunk, state)
        qfeats.append(out)
    assert_close(torch.cat(qfeats, dim=1), expected["stream.qfeats"], ATOL, "stream.qfeats")


def test_golden_voice_conversion_stream(causal, golden):
    _, expected, _ = golden("tiny_causal")
    converter = KNNVoiceConverter(expected["vc.matching_set"], topk=4)
    rec = stream_decode(causal, expected["stream.toks"], converter=converter)
    assert_close(rec, expected["vc_stream.rec_sig"], ATOL, "vc_stream.rec_sig")


@pytest.mark.parametrize("chunks_per_call", [1, 3])
def test_stream_equals_offline_any_length(speech, chunks_per_call):
    """Two streams of real speech whose length is not a multiple of the chunk:
    streaming (with flush) equals the offline transforms item by item."""
    codec = random_codec("causal", seed=3)
    length = 37 * codec.chunk_size + 555
    sig = torch.stack([speech[0][:length], speech[5][:length]])
    toks = stream_encode(codec, sig, chunks_per_call)
    lats = codec.sig_to_lats(sig)
    assert_toks(toks, codec.sig_to_toks(sig), lats, "streamed toks")
    rec = stream_decode(codec, toks, chunks_per_call)
    assert_close(rec, codec.toks_to_sig(toks), ATOL, "streamed signal")
    for row in range(2):
        alone = codec.sig_to_toks(sig[row : row + 1])
        assert_toks(toks[row : row + 1], alone, lats[row : row + 1], f"stream {row} alone")


def test_streams_are_independent_and_reset(speech):
    codec = random_codec("causal", seed=4)
    chunk = codec.chunk_size
    first, second, third = (s[: 10 * chunk] for s in (speech[1], speech[2], speech[3]))
    enc = codec.stream_encoder(batch_size=2)
    head = enc(torch.stack([first[: 6 * chunk], second[: 6 * chunk]]))
    enc.reset(1)  # stream 1 starts over with another utterance, stream 0 goes on
    tail = enc(torch.stack([first[6 * chunk :], third[: 4 * chunk]]))
    assert torch.equal(torch.cat([head[:1], tail[:1]], dim=1), codec.sig_to_toks(first[None]))
    assert torch.equal(tail[1:], codec.sig_to_toks(third[None, : 4 * chunk]))
    enc.reset()
    assert torch.equal(enc(second[None, : 2 * chunk].repeat(2, 1))[0], head[1, :8])


def test_stream_errors(causal):
    with pytest.raises(ValueError, match="causal codec"):
        random_codec("50hz").stream_encoder()
    with pytest.raises(ValueError, match="causal codec"):
        random_codec("50hz").stream_decoder()
    enc = causal.stream_encoder(batch_size=2)
    with pytest.raises(ValueError, match="multiple of 1280 samples"):
        enc(torch.zeros(2, 1000))
    with pytest.raises(ValueError, match=r"shape \[2, \.\.\.\]"):
        enc(torch.zeros(1, 1280))
    with pytest.raises(ValueError, match="NaN"):
        enc(torch.full((2, 1280), float("nan")))
    with pytest.raises(ValueError, match="positive integer"):
        causal.stream_encoder(batch_size=0)
    dec = causal.stream_decoder()
    with pytest.raises(ValueError, match="multiple of 4 tokens"):
        dec(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 4096\)"):
        dec(torch.full((1, 4), 4096))
    with pytest.raises(TypeError, match="integer"):
        dec(torch.zeros(1, 4))
    with pytest.raises(IndexError, match="out of range"):
        dec.reset(3)


@pytest.mark.parametrize("name", ["tiny_causal_options", "tiny_causal_vocos"])
def test_other_causal_architectures(name, speech):
    """25 Hz tokens, post-norm focal blocks, a 1-frame lookahead and a causal
    Vocos decoder stream exactly like their offline transforms too."""
    codec = FocalCodec.from_pretrained(GOLDEN / "extra" / name)
    sig = speech[9][None, : 20 * codec.chunk_size + 333]
    toks = stream_encode(codec, sig, chunks_per_call=2)
    assert_toks(toks, codec.sig_to_toks(sig), codec.sig_to_lats(sig), f"{name} toks")
    rec = stream_decode(codec, toks, chunks_per_call=2)
    assert_close(rec, codec.toks_to_sig(toks), ATOL, f"{name} signal")
