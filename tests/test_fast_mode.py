"""Fast mode (bfloat16 products) and the oneDNN / channels-last kernels of the lobes."""

import pytest
import torch

import speechbrain_focalcodec.ops.linear as linear_module
from speechbrain_focalcodec.fast_mode import fast_codec, token_agreement
from speechbrain_focalcodec.ops.frame_conv import conv_frames, strided_conv
from speechbrain_focalcodec.ops.linear import linear
from speechbrain_focalcodec.ops.weight_cache import WeightStore, kept_weights
from tests.conftest import random_codec


def test_fast_codec_converts_a_copy(speech):
    codec = random_codec("50hz")
    fast = fast_codec(codec, ("encoder", "compressor"))
    assert codec.encoder.feature_proj.weight.dtype == torch.float32
    assert fast.encoder.feature_proj.weight.dtype == torch.bfloat16
    assert fast.compressor.out_proj.weight.dtype == torch.bfloat16
    # Normalizations and the feature extractor stay float32 by default.
    assert fast.encoder.encoder.layers[0].attention_norm.weight.dtype == torch.float32
    assert fast.encoder.feature_extractor.layers[1].conv.weight.dtype == torch.float32
    sig = speech[1][None]
    toks, expected = fast.sig_to_toks(sig), codec.sig_to_toks(sig)
    assert toks.dtype == torch.int64 and toks.shape == expected.shape
    assert fast.sig_to_feats(sig).dtype == torch.float32
    assert token_agreement(toks, expected) > 0.8
    rec = fast.toks_to_sig(toks)
    assert rec.dtype == torch.float32 and bool(torch.isfinite(rec).all())
    with pytest.raises(ValueError, match="No module"):
        fast_codec(codec, ("encoder.nothing",))


def test_fast_feature_extractor_and_batches(speech):
    codec = random_codec("causal")
    fast = fast_codec(codec, ("encoder",), feature_extractor=True)
    assert fast.encoder.feature_extractor.layers[1].conv.weight.dtype == torch.bfloat16
    batch = torch.zeros(2, 32000)
    batch[0], batch[1, :16000] = speech[2][:32000], speech[3][:16000]
    lens = torch.tensor([1.0, 0.5])
    toks = fast.sig_to_toks(batch, lens)
    alone = fast.sig_to_toks(batch[1:, :16000])
    assert torch.equal(toks[1, : alone.shape[1]], alone[0])


@pytest.mark.parametrize("supported", [False, True])
def test_fast_codec_warns_where_bfloat16_is_slow(monkeypatch, supported):
    """Without bfloat16 instructions (AMD Zen 3: 21 GFLOP/s in bfloat16 against 170
    in float32) the fast mode is slower than float32: the user is told, once per call."""
    import warnings

    import speechbrain_focalcodec.fast_mode as fast_mode

    monkeypatch.setattr(fast_mode, "bf16_supported", lambda device: supported)
    codec = random_codec("50hz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = fast_codec(codec)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert messages == (
        []
        if supported
        else [
            "cpu has no bfloat16 matrix instructions: the fast mode computes there, but slower "
            "than float32"
        ]
    )
    assert fast.encoder.encoder.layers[0].feed_forward.in_proj.weight.dtype == torch.bfloat16


def test_token_agreement():
    toks = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert token_agreement(toks, toks) == 1.0
    other = torch.tensor([[1, 2, 0, 4], [5, 0, 0, 0]])
    assert token_agreement(toks, other) == 0.5
    assert token_agreement(toks, other, torch.tensor([1.0, 0.25])) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="Shapes differ"):
        token_agreement(toks, toks[:1])


def test_kernels_match_torch_reference():
    x = torch.randn(3, 41, 16)
    weight, bias = torch.randn(24, 16), torch.randn(24)
    reference = torch.nn.functional.linear(x, weight, bias)
    assert torch.allclose(linear(x, weight, bias), reference, atol=1e-5)
    assert torch.allclose(
        linear(x.transpose(0, 1), weight), reference.transpose(0, 1) - bias, atol=1e-5
    )
    bf16 = linear(x, weight.bfloat16(), bias.bfloat16(), "gelu")
    assert bf16.dtype == torch.float32
    assert torch.allclose(bf16, torch.nn.functional.gelu(reference), atol=0.2)
    with pytest.raises(ValueError, match="activation"):
        linear(x, weight, activation="relu")
    channels_first = x.transpose(1, 2)
    for conv in (
        torch.nn.Conv1d(16, 16, 7, padding="same", groups=16),
        torch.nn.Conv1d(16, 8, 4, padding=2, groups=4),
        torch.nn.Conv1d(16, 8, 1),
    ):
        got = conv_frames(x, conv.weight, conv.bias, conv.padding, conv.groups)
        assert torch.allclose(got, conv(channels_first).transpose(1, 2), atol=1e-5)
    for kernel, stride, channels in ((3, 2, 16), (2, 2, 16), (10, 5, 1)):
        weight = torch.randn(8, channels, kernel)
        got = strided_conv(x[..., :channels], weight, stride)
        expected = torch.nn.functional.conv1d(channels_first[:, :channels], weight, stride=stride)
        assert torch.allclose(got, expected.transpose(1, 2), atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_linear_keeps_reordered_weights_of_parameters(dtype):
    """Inside ``kept_weights``, short products of a parameter (or a view of one)
    use its kept reordered weight: same results as the plain product,
    following in-place updates; the store is dropped with its owner."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(32, 48).to(dtype)
    conv = torch.nn.Conv1d(32, 48, 1).to(dtype)
    store = WeightStore()
    for rows in (1, 4, 16, 40):
        x = torch.randn(1, rows, 32)
        with torch.inference_mode(), kept_weights(store):
            got = linear(x, layer.weight, layer.bias, "gelu")
            from_view = linear(x, conv.weight[..., 0], conv.bias)
        expected = linear(x, layer.weight.detach().clone(), layer.bias, "gelu")
        assert torch.allclose(got, expected, atol=1e-5 if dtype == torch.float32 else 1e-2)
        expected = linear(x, conv.weight[..., 0].detach().clone(), conv.bias)
        assert torch.allclose(from_view, expected, atol=1e-5 if dtype == torch.float32 else 1e-2)
    if dtype in linear_module.ONEDNN_LINEAR:
        # One kept copy per weight whatever the row counts used (1, 4, 16).
        assert len(store) == 2
    x = torch.randn(1, 4, 32)
    with torch.inference_mode(), kept_weights(store):
        before = linear(x, layer.weight)
    with torch.no_grad():
        layer.weight.mul_(-1.0)
    with torch.inference_mode(), kept_weights(store):
        after = linear(x, layer.weight)
    assert torch.equal(after, -before)
    del layer, conv
    assert len(store) == 0


def test_fast_streams_keep_bfloat16_caches_and_equal_offline(speech):
    """Fast mode: attention in the projections' precision, its caches held in
    bfloat16 by the streams; streamed tokens equal the fast codec's offline ones."""
    from speechbrain_focalcodec.lobes.history import History

    fast = fast_codec(random_codec("causal", seed=4), ("encoder", "compressor"))
    sig = torch.stack([speech[0][: 12 * fast.chunk_size], speech[2][: 12 * fast.chunk_size]])
    enc = fast.stream_encoder(2)
    toks = torch.cat([enc(chunk) for chunk in sig.split(fast.chunk_size, dim=1)], dim=1)
    with torch.no_grad():
        assert torch.equal(toks, fast.sig_to_toks(sig))
    names = enc.step.state_names()
    caches = [item for name, item in zip(names, enc.state) if ".keys." in name]
    assert caches and all(isinstance(c, History) and c.dtype == torch.bfloat16 for c in caches)
    contexts = [item for name, item in zip(names, enc.state) if ".context." in name]
    assert all(c.dtype == torch.float32 for c in contexts)
    fast.double()  # the streams follow the codec, caches included
    assert enc(sig[:, : fast.chunk_size].double()).shape == (2, 4)
    assert all(c.dtype == torch.float64 for c in enc.state if isinstance(c, History))


def test_functional_fast_steps_keep_their_state_dtype(speech):
    """The functional step (what the ONNX export traces) keeps float32 caches in
    the fast mode; under autocast the attention returns autocast's dtype."""
    from speechbrain_focalcodec.streaming import EncoderStep

    fast = fast_codec(random_codec("causal", seed=4), ("encoder",))
    step = EncoderStep(fast)
    state = step.initial_state(1)
    with torch.no_grad():
        for piece in speech[0][None, : 2 * fast.chunk_size].split(fast.chunk_size, dim=1):
            _, state = step(piece, state)
    assert all(t.dtype == u.dtype for t, u in zip(state, step.initial_state(1)))
    layer = random_codec("causal").encoder.encoder.layers[0].attention
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(torch.randn(1, 5, layer.qkv_proj.in_features), torch.zeros(layer.num_heads, 5, 5))
    assert y.dtype == torch.bfloat16
