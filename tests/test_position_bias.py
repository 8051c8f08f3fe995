"""The relative position bias as a Toeplitz matrix of the per-offset table equals
the pairwise lookup (query i, key j: the bucket of the offset j - i - query_offset),
values and gradients."""

import pytest
import torch

from speechbrain_focalcodec.lobes import attention
from speechbrain_focalcodec.lobes.attention import RelativePositionBias


def _pairwise(bias: RelativePositionBias, num_queries: int, num_keys: int, offset: int):
    queries = torch.arange(num_queries)[:, None] + offset
    keys = torch.arange(num_keys)[None, :]
    return bias.weight[bias.buckets(keys - queries)].permute(2, 0, 1)


@pytest.mark.parametrize(
    "num_queries, num_keys, offset", [(1, 1, 0), (7, 3, 0), (3, 9, 6), (4, 515, 511), (120, 120, 0)]
)
def test_toeplitz_bias_equals_the_pairwise_lookup(num_queries, num_keys, offset, monkeypatch):
    torch.manual_seed(num_keys)
    bias = RelativePositionBias(num_buckets=320, max_distance=800, num_heads=4)
    with torch.enable_grad():
        got = bias(num_queries, num_keys, offset)
        expected = _pairwise(bias, num_queries, num_keys, offset)
    assert got.shape == (4, num_queries, num_keys) and torch.equal(got, expected)
    weights = torch.randn_like(expected)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad((got * weights).sum(), bias.weight)
        (expected_grad,) = torch.autograd.grad((expected * weights).sum(), bias.weight)
    assert torch.allclose(grad, expected_grad, atol=1e-5)
    with torch.no_grad():  # exporters get the pairwise lookup itself
        monkeypatch.setattr(attention, "tracing", lambda: True)
        assert torch.equal(bias(num_queries, num_keys, offset), expected)
