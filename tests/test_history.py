"""``History``: the left contexts and attention caches of live streams, updated in
place; streams that use it for many chunks (the history moved back to the start
of its buffer several times) equal the offline transforms."""

import pytest
import torch

from speechbrain_focalcodec.lobes.causal import left_context
from speechbrain_focalcodec.lobes.history import History
from tests.conftest import random_codec


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("room", [None, 1, 5])
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
