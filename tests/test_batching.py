"""Exact batched inference: every item of a padded batch gets what it gets alone.

Random batches of the bundled speech, cut to random lengths (some shorter
than a frame), padded with loud noise rather than zeros so that any leak
shows, through tiny random-weight codecs of each official architecture.
"""

import pytest
import torch

from tests.conftest import random_codec

ATOL = 1e-4
LAT_MARGIN = 1e-4
VARIANTS = ["50hz", "25hz", "12_5hz", "causal"]


def random_batch(speech, seed: int, batch_size: int = 4):
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randperm(len(speech), generator=generator)[:batch_size].tolist()
    lengths = [int(torch.randint(16000, 48000, (1,), generator=generator))] + [
        int(torch.randint(low, high, (1,), generator=generator))
        for low, high in [(1, 400), (400, 4000), (4000, 40000)][: batch_size - 1]
    ]
    items = [speech[i][: min(n, len(speech[i]))] for i, n in zip(picks, lengths)]
    longest = max(len(item) for item in items)
    batch = 0.5 * torch.randn(len(items), longest, generator=generator)
    for row, item in enumerate(items):
        batch[row, : len(item)] = item
    lens = torch.tensor([len(item) / longest for item in items])
    return batch, lens, items


def assert_item(got: torch.Tensor, alone: torch.Tensor, what: str) -> None:
    """``got`` is a batch row, ``alone`` the same utterance's batch of one."""
    length = alone.shape[1]
    assert got.shape[0] >= length, f"{what}: {got.shape[0]} < {length} frames"
    error = (got[:length] - alone[0]).abs().max().item()
    assert error <= ATOL, f"{what}: max abs error {error:.3g}"
    if got.shape[0] > length:
        assert got[length:].abs().max().item() == 0.0, f"{what}: padding is not zero"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [0, 1])
def test_random_batch_equals_items_alone(variant, seed, speech):
    codec = random_codec(variant, seed)
    batch, lens, items = random_batch(speech, seed)
    feats = codec.sig_to_feats(batch, lens)
    lats = codec.sig_to_lats(batch, lens)
    toks = codec.sig_to_toks(batch, lens)
    qfeats = codec.sig_to_qfeats(batch, lens)
    rec = codec.sig_to_sig(batch, lens)
    toks_lens = codec.toks_lens(lens, batch.shape[1])
    feats_lens = codec.feats_lens(lens, batch.shape[1])
    from_toks = codec.toks_to_sig(toks, toks_lens)
    from_feats = codec.feats_to_sig(feats, feats_lens)
    for row, item in enumerate(items):
        sig = item[None]
        lats_alone = codec.sig_to_lats(sig)
        num_toks = lats_alone.shape[1]
        assert round(toks_lens[row].item() * toks.shape[1]) == num_toks
        assert round(feats_lens[row].item() * feats.shape[1]) == codec.sig_to_feats(sig).shape[1]
        assert_item(feats[row], codec.sig_to_feats(sig)[0][None], f"feats[{row}]")
        assert_item(lats[row], lats_alone, f"lats[{row}]")
        reliable = (lats_alone[0].abs() > LAT_MARGIN).all(dim=-1)
        toks_alone = codec.sig_to_toks(sig)[0]
        assert torch.equal(toks[row, :num_toks][reliable], toks_alone[reliable]), f"toks[{row}]"
        assert (toks[row, num_toks:] == 0).all()
        assert_item(qfeats[row], codec.sig_to_qfeats(sig), f"qfeats[{row}]")
        assert_item(rec[row], codec.sig_to_sig(sig), f"sig_to_sig[{row}]")
        assert_item(
            from_toks[row], codec.toks_to_sig(codec.sig_to_toks(sig)), f"toks_to_sig[{row}]"
        )
        assert_item(
            from_feats[row], codec.feats_to_sig(codec.sig_to_feats(sig)), f"feats_to_sig[{row}]"
        )


@pytest.mark.parametrize("variant", VARIANTS)
def test_batch_order_and_size_do_not_matter(variant, speech):
    """Tokens of an utterance are the same whatever batch it is encoded in."""
    codec = random_codec(variant)
    batch, lens, items = random_batch(speech, seed=3)
    toks = codec.sig_to_toks(batch, lens)
    order = torch.tensor([2, 0, 3, 1])
    shuffled = codec.sig_to_toks(batch[order], lens[order])
    assert torch.equal(shuffled, toks[order])
    pair = codec.sig_to_toks(batch[[1, 3]], lens[[1, 3]])
    for row, source in enumerate([1, 3]):
        count = codec.sig_to_toks(items[source][None]).shape[1]
        assert torch.equal(pair[row, :count], toks[source, :count])


def test_full_length_lens_change_nothing(speech):
    codec = random_codec("50hz")
    batch = torch.stack([speech[0][:16000], speech[1][:16000]])
    assert torch.equal(codec.sig_to_sig(batch), codec.sig_to_sig(batch, torch.ones(2)))
