"""``History``: the left contexts and attention caches of live streams, updated in
place; streams that use it for many chunks (the history moved back to the start
of its buffer several times) equal the offline transforms."""

import pytest
import torch

from speechbrain_focalcodec.lobes.causal import left_context
from speechbrain_focalcodec.lobes.history import History
from tests.conftest import random_codec


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("room", [64, 1, 5])
def test_extend_equals_concatenation(dim, room):
    """Chunks of any length, shorter and longer than the room (the buffer grows):
    every view equals the concatenation of the last frames, and so does the history."""
    torch.manual_seed(dim)
    shape = [2, 3, 4, 5]
    shape[dim] = 6
    history = History(torch.randn(shape), dim=dim, room=room)
    reference = history.frames.clone()
    for new in [1, 4, 4, 7, 2, 13, 4, 4, 4, 1, 30, 4]:
        shape[dim] = new
        x = torch.randn(shape)
        joined = torch.cat([reference, x], dim=dim)
        assert torch.equal(history.extend(x), joined)
        reference = joined.narrow(dim, joined.shape[dim] - 6, 6)
        assert torch.equal(history.frames, reference)
        assert history.shape == reference.shape


def test_replace_rows_and_move():
    history = History(torch.zeros(3, 2, 1), dim=1)
    history.replace(torch.ones(3, 2, 1), torch.tensor([True, False, True]))
    assert history.frames[:, :, 0].tolist() == [[1, 1], [0, 0], [1, 1]]
    history.replace(torch.full((3, 1, 1), 2.0))
    assert torch.equal(history.frames, torch.full((3, 2, 1), 2.0))
    assert history.to(torch.device("cpu"), torch.float32) is history
    moved = history.to(torch.device("cpu"), torch.float64)
    assert moved.dtype == torch.float64 and torch.equal(moved.frames, history.frames.double())
    with pytest.raises(ValueError, match="room"):
        History(torch.zeros(1, 2, 1), dim=1, room=0)


@pytest.mark.parametrize("fresh", [True, torch.tensor([True, False])])
def test_left_context_of_a_history_equals_the_tensor_one(fresh):
    torch.manual_seed(0)
    context, x = torch.randn(2, 3, 4), torch.randn(2, 4, 4)
    history = History(context.clone(), dim=1)
    for mode in ("replicate", "constant"):
        padded, new_context = left_context(x, 3, mode, context, fresh)
        got, same = left_context(x, 3, mode, history, fresh)
        assert same is history
        assert torch.equal(got, padded) and torch.equal(history.frames, new_context)
        history.replace(context)


def test_streams_over_many_chunks_equal_offline(speech):
    """Two live streams for 40 chunks (every context moved back to the start of
    its buffer more than once), one of them restarted half way: the tokens
    and signals of the offline transforms."""
    codec = random_codec("causal", seed=3)
    chunk, count = codec.chunk_size, 40
    sig = torch.stack([torch.cat(speech)[: count * chunk], torch.cat(speech[1:])[: count * chunk]])
    enc, dec = codec.stream_encoder(2), codec.stream_decoder(2)
    toks, sigs = [], []
    for index, piece in enumerate(sig.split(chunk, dim=1)):
        if index == 25:
            enc.reset(1)
            dec.reset(1)
        toks.append(enc(piece))
        sigs.append(dec(toks[-1]))
    toks, out = torch.cat(toks, dim=1), torch.cat(sigs, dim=1)
    hop = out.shape[1] // toks.shape[1]
    with torch.no_grad():
        assert torch.equal(toks[0], codec.sig_to_toks(sig[:1])[0])
        assert torch.equal(toks[1, 100:], codec.sig_to_toks(sig[1:, 25 * chunk :])[0])
        expected = codec.toks_to_sig(toks[:1])[0]
        assert torch.allclose(out[0], expected, atol=1e-4)
        restarted = codec.toks_to_sig(toks[1:, 100:])[0]
        assert torch.allclose(out[1, 100 * hop :], restarted, atol=1e-4)


def test_history_takes_the_precision_of_its_frames():
    history = History(torch.zeros(1, 3, 2), dim=1, room=2)
    history.extend(torch.ones(1, 2, 2, dtype=torch.bfloat16))
    got = history.extend(torch.full((1, 2, 2), 2.0, dtype=torch.bfloat16))
    assert got.dtype == history.dtype == torch.bfloat16
    assert got[0, :, 0].tolist() == [0.0, 1.0, 1.0, 2.0, 2.0]


def test_streams_made_in_inference_mode_go_on_outside_it(speech):
    """Buffers made inside ``torch.inference_mode`` (creation, first chunk,
    flush) are normal tensors: the stream goes on, and restarts slots, outside it."""
    codec = random_codec("causal", seed=3)
    chunk = codec.chunk_size
    sig = torch.stack([speech[0][: 4 * chunk], speech[1][: 4 * chunk]])
    with torch.inference_mode():
        enc = codec.stream_encoder(2)
        first = enc(sig[:, :chunk])
    rest = [enc(piece) for piece in sig[:, chunk:].split(chunk, dim=1)]
    enc.reset(1)
    with torch.inference_mode():
        enc.flush(sig[:, :100])
    enc(sig[:, :chunk])
    with torch.no_grad():
        assert torch.equal(torch.cat([first] + rest, dim=1), codec.sig_to_toks(sig))


def test_a_failed_step_leaves_the_stream_as_it_was(speech):
    """A converter that raises once (after the decompressor advanced its
    histories): the chunk given again gives what an uninterrupted stream gives."""
    codec = random_codec("causal", seed=3)
    calls = {"count": 0}

    def flaky(qfeats):
        calls["count"] += 1
        if calls["count"] == 3:
            raise RuntimeError("converter failed")
        return qfeats

    toks = codec.sig_to_toks(speech[0][None, : 6 * codec.chunk_size])
    steady, flaky_dec = codec.stream_decoder(1), codec.stream_decoder(1, converter=flaky)
    for piece in toks.split(4, dim=1):
        expected = steady(piece)
        try:
            got = flaky_dec(piece)
        except RuntimeError:
            got = flaky_dec(piece)  # the same chunk again
        assert torch.equal(got, expected)
    assert calls["count"] == 7


def test_reset_restarts_every_step_counter(speech):
    codec = random_codec("causal", seed=3)
    enc = codec.stream_encoder(2)
    sig = torch.stack([speech[0][: 3 * codec.chunk_size], speech[1][: 3 * codec.chunk_size]])
    for piece in sig.split(codec.chunk_size, dim=1):
        enc(piece)
    enc.reset(1)
    counters = [item for name, item in zip(enc.step.state_names(), enc.state) if "step" in name]
    assert len(counters) == 2 and all(c.tolist() == [counters[0][0].item(), 0] for c in counters)


def test_blocks_reject_mismatched_contexts():
    x = torch.randn(1, 4, 3)
    with pytest.raises(ValueError, match="mode"):
        left_context(x, 2, "reflect")
    with pytest.raises(ValueError, match="History of 3 frames"):
        left_context(x, 2, context=History(torch.zeros(1, 3, 3), dim=1))
    from speechbrain_focalcodec.lobes.attention import GatedRelativeAttention

    attention = GatedRelativeAttention(8, num_heads=2)
    keys = History(torch.zeros(1, 2, 3, 4), dim=2)
    with pytest.raises(TypeError, match="both"):
        attention.step(
            torch.randn(1, 2, 8), torch.zeros(2, 2, 5), None, keys, torch.zeros(1, 2, 3, 4)
        )
