"""Long audio: segments are aligned with whole-utterance processing, short
inputs are processed whole, causal models stream exactly, files are read
piece by piece."""

import pytest
import soundfile as sf
import torch

from speechbrain_focalcodec.audio_files import AudioFileReader
from speechbrain_focalcodec.long_audio import decode_long, encode_long, iter_encode
from tests.conftest import random_codec
from tests.test_golden import ATOL, assert_close
from tests.test_streaming import _one_thread  # noqa: F401  (small tensors)


@pytest.fixture(scope="module")
def long_speech(speech):
    return torch.cat(speech[:4])  # 30.8 s


@pytest.mark.parametrize("variant", ["50hz", "12_5hz"])
def test_segments_align_with_the_whole_utterance(variant, long_speech):
    """With a context that covers the whole input every segment sees what the
    whole utterance sees: tokens and audio are then those of whole processing,
    which checks the alignment of segments, tokens and cross-fades."""
    codec = random_codec(variant)
    sig = long_speech[: 16000 * 7 + 123]
    whole = codec.sig_to_toks(sig[None])
    segmented = encode_long(codec, sig, segment=2.5, context=100.0, max_whole=0.0)
    assert torch.equal(segmented, whole)
    rec = decode_long(codec, whole, segment=2.5, context=100.0, max_whole=0.0)
    assert_close(rec, codec.toks_to_sig(whole), ATOL, "segmented decoding")
    # Defaults: inputs up to 30 s are processed whole.
    assert torch.equal(encode_long(codec, sig), whole)


def test_segmented_offline_model(long_speech):
    codec = random_codec("50hz")
    whole = codec.sig_to_toks(long_speech[None])
    toks = encode_long(codec, long_speech, segment=8.0, context=3.0)
    assert toks.shape == whole.shape
    assert (toks == whole).float().mean() > 0.5
    # 2.02 s of tokens in 1 s segments: the last one (1 token) is shorter than the fade.
    short = whole[:, :101]
    rec = decode_long(codec, short, segment=1.0, context=1.0, crossfade=2)
    reference = codec.toks_to_sig(short)
    assert rec.shape == reference.shape
    snr = 10 * torch.log10(reference.pow(2).sum() / (rec - reference).pow(2).sum())
    assert snr > 30


def test_causal_long_audio_is_exact(long_speech):
    codec = random_codec("causal")
    sig = long_speech[: 16000 * 28 + 77]
    toks = encode_long(codec, sig, segment=4.0)
    assert torch.equal(toks, codec.sig_to_toks(sig[None]))
    assert_close(decode_long(codec, toks, segment=4.0), codec.toks_to_sig(toks), ATOL, "decoded")


def test_from_a_file_piece_by_piece(long_speech, tmp_path):
    codec = random_codec("25hz")
    path = tmp_path / "long.flac"
    sf.write(path, long_speech.numpy(), 16000, subtype="PCM_24")
    reader = AudioFileReader(path, 16000)
    from_file = torch.cat(list(iter_encode(codec, reader.read, reader.num_samples, 8.0, 2.0)), 1)
    in_memory = encode_long(codec, reader.read(), segment=8.0, context=2.0)
    assert torch.equal(from_file, in_memory)


def test_long_tensors_are_routed_through_segments(monkeypatch):
    """Above ``max_whole_seconds`` (lowered here), ``sig_to_toks`` tokenizes in
    segments: the encoder never sees more than a segment and its context, and the
    tokens are ``encode_long``'s; below it, the whole-input path runs unchanged."""
    codec = random_codec("50hz", seed=3)
    sig = 0.1 * torch.randn(1, 16000 * 45, generator=torch.Generator().manual_seed(0))
    seen = []
    codec.encoder.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].shape))
    codec.max_whole_seconds = None
    whole = codec.sig_to_toks(sig)
    assert max(shape[-1] for shape in seen) == sig.shape[1]
    seen.clear()
    codec.max_whole_seconds = 40.0
    routed = codec.sig_to_toks(sig)
    assert max(shape[-1] for shape in seen) <= 31 * 16000  # 20 s + 2 x 5 s of context
    seen.clear()
    assert torch.equal(routed, encode_long(codec, sig[0]))
    assert routed.shape == whole.shape and not torch.equal(routed, whole)
    assert torch.equal(codec.toks_to_codes(routed), codec.sig_to_codes(sig))
    short = sig[:, : 16000 * 3]
    seen.clear()
    assert torch.equal(
        codec.sig_to_toks(short), codec.quantizer.lats_to_toks(codec.sig_to_lats(short))
    )
    assert max(shape[-1] for shape in seen) == short.shape[1]


def test_long_batches_are_routed_item_by_item():
    """Causal codecs segment exactly: routed batches equal the whole path, each item
    cut to its length, token 0 past its end."""
    codec = random_codec("causal", seed=4)
    sig = 0.1 * torch.randn(2, 16000 * 3, generator=torch.Generator().manual_seed(1))
    lens = torch.tensor([1.0, 0.6])
    codec.max_whole_seconds = None
    whole = codec.sig_to_toks(sig, lens)
    codec.max_whole_seconds = 1.0
    routed = codec.sig_to_toks(sig, lens)
    valid = torch.round(codec.toks_lens(lens, sig.shape[1]) * whole.shape[1]).long()
    assert routed.shape == whole.shape
    for row, count in enumerate(valid.tolist()):
        assert torch.equal(routed[row, :count], whole[row, :count])
        assert not routed[row, count:].any()
