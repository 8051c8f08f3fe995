"""Live streams: slots that join and leave independently, warm-up, streams that
follow their codec to another dtype, no device reads in a step, and one
definition of each block for streaming and offline processing."""

import numpy as np
import pytest
import torch

from speechbrain_focalcodec.lobes.vocos import ISTFT
from speechbrain_focalcodec.ops.capability import ONEDNN_LINEAR, use_fast_kernels
from tests.conftest import random_codec
from tests.test_golden import ATOL, assert_close
from tests.test_streaming import _one_thread  # noqa: F401  (streaming-sized chunks)


@pytest.fixture(scope="module")
def codec():
    return random_codec("causal", seed=5)


@pytest.mark.parametrize("dtype, atol", [(torch.float32, ATOL), (torch.float64, 1e-6)])
def test_slots_join_and_leave(speech, dtype, atol):
    """Three slots whose streams start and end at different chunks (a reset
    by index, by several indices and by mask) give, stream by stream, the
    tokens (exactly) and signals of each stream processed alone (float32:
    batched and single products may round differently)."""
    codec = random_codec("causal", seed=5).to(dtype)
    chunk = codec.chunk_size
    utterances = [s[: 12 * chunk].to(dtype) for s in speech[:6]]
    # (slot, utterance, first chunk, number of chunks)
    plan = [(0, 0, 0, 12), (1, 1, 0, 3), (2, 2, 0, 5), (1, 3, 3, 9), (2, 4, 5, 4), (2, 5, 9, 3)]
    enc, dec = codec.stream_encoder(3), codec.stream_decoder(3)
    toks = {i: [] for i in range(len(plan))}
    sigs = {i: [] for i in range(len(plan))}
    for step in range(12):
        starting = [slot for slot, _, start, _ in plan if start == step and step > 0]
        if len(starting) == 1:
            enc.reset(starting[0])
            dec.reset(starting)
        elif starting:
            mask = [slot in starting for slot in range(3)]
            enc.reset(torch.tensor(mask))
            dec.reset(mask)
        rows, owners = [], []
        for slot in range(3):
            owner = next(
                i
                for i, (s, _, start, n) in enumerate(plan)
                if s == slot and start <= step < start + n
            )
            _, utterance, start, _ = plan[owner]
            offset = (step - start) * chunk
            rows.append(utterances[utterance][offset : offset + chunk])
            owners.append(owner)
        chunk_toks = enc(torch.stack(rows))
        chunk_sig = dec(chunk_toks)
        for slot, owner in enumerate(owners):
            toks[owner].append(chunk_toks[slot])
            sigs[owner].append(chunk_sig[slot])
    for owner, (_, utterance, _, count) in enumerate(plan):
        alone = codec.stream_encoder(1)
        expected = torch.cat(
            [alone(c) for c in utterances[utterance][None, : count * chunk].split(chunk, 1)], 1
        )
        assert torch.equal(torch.cat(toks[owner])[None], expected), owner
        assert torch.equal(
            expected, codec.sig_to_toks(utterances[utterance][None, : count * chunk])
        )
        alone_dec = codec.stream_decoder(1)
        expected_sig = torch.cat([alone_dec(t) for t in expected.split(4, dim=1)], dim=1)
        assert_close(torch.cat(sigs[owner])[None], expected_sig, atol, f"signal {owner}")


def test_reset_slot_errors(codec):
    enc = codec.stream_encoder(2)
    with pytest.raises(IndexError, match="out of range"):
        enc.reset([0, 2])
    with pytest.raises(ValueError, match="2 values"):
        enc.reset([True, False, True])
    with pytest.raises(TypeError, match="indices or a bool mask"):
        enc.reset(0.5)
    with pytest.raises(TypeError, match="indices or a bool mask"):
        enc.reset(True)


def test_reset_takes_numpy_indices_and_masks(codec):
    """Slots from NumPy (``np.where``, ``np.int64``, bool arrays) are indices like any."""
    enc = codec.stream_encoder(3)
    assert enc._indices(np.int64(1)) == [1]
    assert enc._indices(np.where(np.array([0, 5, 7]) > 1)[0]) == [1, 2]
    assert enc._indices(np.array([True, False, True])) == [0, 2]
    assert enc._indices([np.int32(2), 0]) == [0, 2]
    with pytest.raises(TypeError, match="indices or a bool mask"):
        enc.reset(np.float64(0.5))


def test_warmup_leaves_streams_fresh(codec, speech):
    """Warm-up (explicit or at creation) changes no output: a warmed stream
    equals a never-warmed one, also when the warm-up comes mid-stream."""
    chunk = codec.chunk_size
    sig = torch.stack([speech[0][: 4 * chunk], speech[1][: 4 * chunk]])
    cold = codec.stream_encoder(2)
    expected = [cold(c) for c in sig.split(chunk, dim=1)]
    warm = codec.stream_encoder(2, warmup=True)
    got = [warm(c) for c in sig.split(chunk, dim=1)[:2]]
    warm.warmup()
    got += [warm(c) for c in sig.split(chunk, dim=1)[2:]]
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    cold_dec, warm_dec = codec.stream_decoder(2), codec.stream_decoder(2).warmup()
    toks = torch.cat(expected, dim=1)
    assert torch.equal(cold_dec(toks), warm_dec(toks))


def test_streams_follow_the_codec_dtype(speech):
    """Streams made before ``codec.double()`` run in float64 afterwards (their
    state moves along), and equal the float64 offline transforms."""
    codec = random_codec("causal", seed=6)
    chunk = codec.chunk_size
    enc, dec = codec.stream_encoder(1), codec.stream_decoder(1)
    sig = speech[2][None, : 6 * chunk]
    enc(sig[:, :chunk])  # a stream in float32, then the codec moves
    enc.reset()
    codec.double()
    toks = torch.cat([enc(c) for c in sig.double().split(chunk, dim=1)], dim=1)
    assert torch.equal(toks, codec.sig_to_toks(sig.double()))
    rec = torch.cat([dec(t) for t in toks.split(4, dim=1)], dim=1)
    assert rec.dtype == torch.float64
    assert_close(rec, codec.toks_to_sig(toks), 1e-6, "float64 stream")
    # Moved mid-stream: the float32 state is cast, the stream goes on.
    codec.float()
    tail = dec(toks[:, :4])
    assert tail.dtype == torch.float32 and torch.isfinite(tail).all()


def test_step_reads_no_device_values(codec, monkeypatch):
    """A stream step never converts a tensor to a Python value (a host
    synchronisation on GPU), also after a reset of one slot."""
    enc, dec = codec.stream_encoder(2), codec.stream_decoder(2)
    sig = torch.randn(2, codec.chunk_size)
    enc(sig), dec(enc(sig))
    enc.reset(1), dec.reset(1)

    def forbidden(*args, **kwargs):
        raise AssertionError("a stream step read a device value")

    for stream, x in ((enc, sig), (dec, torch.zeros(2, 4, dtype=torch.long))):
        with monkeypatch.context() as patch:
            for name in ("__bool__", "item", "tolist", "__int__", "__index__"):
                patch.setattr(torch.Tensor, name, forbidden)
            with torch.no_grad():
                # Fresh slots read from the counters as a mask, or given by the host.
                stream.step(x, stream.state)
                stream.step(x, stream.state, False)


def test_offline_forward_is_the_step(codec, speech):
    """Offline causal transforms and streams run the same block functions:
    changing one block (a focal layer's kernel) changes both alike."""
    chunk = codec.chunk_size
    sig = speech[3][None, : 5 * chunk]
    conv = codec.compressor.layers[0].focal_block.modulation.layers[0][0]
    with torch.no_grad():
        conv.weight.mul_(-3.0)
    enc = codec.stream_encoder(1)
    toks = torch.cat([enc(c) for c in sig.split(chunk, dim=1)], dim=1)
    assert torch.equal(toks, codec.sig_to_toks(sig))
    with torch.no_grad():
        conv.weight.div_(-3.0)


def test_istft_real_operators_equal_fft():
    """The ISTFT's real-operator synthesis (exports) equals its FFT synthesis,
    offline and causal."""
    torch.manual_seed(0)
    mag, phase = torch.rand(2, 9, 33).double(), torch.randn(2, 9, 33).double()
    for causal in (False, True):
        istft = ISTFT(64, 16, causal).double()
        fft = istft.frames(mag, phase, real_operators=False)
        real = istft.frames(mag, phase, real_operators=True)
        assert_close(real, fft, 1e-12, f"causal={causal}")
    assert_close(istft(mag.float(), phase.float()), fft.flatten(1).float(), ATOL, "causal")


def test_chunk_size_counts_samples(codec):
    """``chunk_size`` means input samples wherever it appears; frame counts of
    a chunk are ``chunk_frames``."""
    transformer, decompressor = codec.encoder.encoder, codec.decompressor
    assert codec.chunk_size == codec.encoder.chunk_size == codec.stream_encoder().chunk_size
    assert transformer.chunk_frames * codec.encoder.downsample_factor == codec.chunk_size
    assert decompressor.chunk_frames == decompressor.refiner.chunk_frames == 4
    assert not any(hasattr(m, "chunk_size") for m in (transformer, decompressor))


def test_streams_keep_derived_weights_until_reset(speech):
    """A stream keeps its weights' backend layouts across chunks (the few-frame
    products of a chunk would otherwise re-derive them every time), flushing keeps
    them for the next streams, and ``reset()`` drops them: an in-place ``.data``
    edit of the codec is then seen."""
    codec = random_codec("causal", seed=6)
    chunk = codec.chunk_size
    sig = speech[0][None, : 3 * chunk]
    enc = codec.stream_encoder(1)
    with use_fast_kernels(True):
        first = torch.cat([enc(c) for c in sig.split(chunk, dim=1)], dim=1)
        kept = len(enc.weights)
        assert kept > 0 or torch.float32 not in ONEDNN_LINEAR  # no oneDNN: nothing kept
        enc.flush(sig[:, :100])
        assert len(enc.weights) >= kept  # a short tail may add layouts
        weight = next(p for p in codec.compressor.parameters() if p.ndim == 2)
        weight.data.mul_(-1.0)
        enc.reset()
        assert len(enc.weights) == 0
        edited = torch.cat([enc(c) for c in sig.split(chunk, dim=1)], dim=1)
    assert torch.equal(edited, codec.sig_to_toks(sig)) and not torch.equal(edited, first)
