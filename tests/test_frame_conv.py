"""Channels-last convolutions (``frame_conv.py``): every path (frame by frame,
window products, convolution primitive) equals ``torch.nn.functional.conv1d``."""

import pytest
import torch

from speechbrain_focalcodec.fast_mode import fast_codec, token_agreement
from speechbrain_focalcodec.ops import frame_conv
from speechbrain_focalcodec.ops.capability import ONEDNN_CONV
from speechbrain_focalcodec.ops.frame_conv import conv_frames, strided_conv
from tests.conftest import random_codec


def _reference(x: torch.Tensor, conv: torch.nn.Conv1d) -> torch.Tensor:
    return conv(x.transpose(1, 2)).transpose(1, 2)


@pytest.mark.parametrize(
    "channels, output_dim, kernel_size, groups",
    [
        (16, 16, 512, 16),  # depth-wise, long causal window (focal modulation)
        (256, 256, 512, 256),  # the same, wide enough to be computed frame by frame
        (16, 16, 7, 16),  # depth-wise, short (ConvNeXt)
        (32, 32, 128, 4),  # grouped (positional convolution)
        (16, 8, 7, 1),  # dense (decoder input convolution)
        (16, 8, 1, 1),  # point-wise
    ],
)
@pytest.mark.parametrize("frames", [1, 4, 8, 9, 40])
def test_conv_frames_matches_conv1d(channels, output_dim, kernel_size, groups, frames):
    torch.manual_seed(frames)
    conv = torch.nn.Conv1d(channels, output_dim, kernel_size, groups=groups)
    x = torch.randn(2, kernel_size - 1 + frames, channels)
    with torch.no_grad():
        expected = _reference(x, conv)
        got = conv_frames(x, conv.weight, conv.bias, conv.padding, conv.groups)
    assert got.shape == expected.shape and got.is_contiguous()
    assert torch.allclose(got, expected, atol=1e-4)


def test_conv_frames_paths(monkeypatch):
    """Window products and the primitive agree, with padding."""
    torch.manual_seed(0)
    x = torch.randn(2, 30, 16)
    for groups, output_dim in ((16, 16), (4, 8), (1, 8)):
        conv = torch.nn.Conv1d(16, output_dim, 5, padding="same", groups=groups)
        with torch.no_grad():
            expected = _reference(x, conv)
            results = []
            for small, budget in ((2**16, 2**22), (0, 2**22), (0, 0)):
                monkeypatch.setattr(frame_conv, "SMALL_WINDOWS", small)
                monkeypatch.setattr(frame_conv, "WINDOWS_BUDGET", budget)
                results.append(conv_frames(x, conv.weight, conv.bias, conv.padding, groups))
        for got in results:
            assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
def test_long_depthwise_window_of_a_strided_view(batch):
    """The long causal window of a chunk, read from a view of a larger buffer
    (a stream's ``History``): the primitive, equal to ``conv1d``."""
    torch.manual_seed(batch)
    conv = torch.nn.Conv1d(64, 64, 512, groups=64)
    buffer = torch.randn(batch, 1100, 64)
    x = buffer[:, 37 : 37 + 515]
    with torch.inference_mode():
        got = conv_frames(x, conv.weight, conv.bias, groups=64)
        expected = _reference(x.contiguous(), conv)
    assert got.shape == (batch, 4, 64) and got.is_contiguous()
    assert torch.allclose(got, expected, atol=1e-5)


def test_depthwise_primitive_gradient_matches_conv1d(monkeypatch):
    monkeypatch.setattr(frame_conv, "SMALL_WINDOWS", 0)
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(8, 8, 6, groups=8)
    x = torch.randn(2, 9, 8)
    with torch.enable_grad():
        conv_frames(x, conv.weight, conv.bias, groups=8).pow(2).sum().backward()
        got = conv.weight.grad.clone()
        conv.weight.grad = None
        _reference(x, conv).pow(2).sum().backward()
    assert torch.allclose(got, conv.weight.grad, atol=1e-4)


@pytest.mark.parametrize("batch, time", [(1, 40), (3, 400)])
def test_strided_conv_window_layouts(batch, time):
    """Few windows are copied in the kernel's layout, many in the other one."""
    torch.manual_seed(time)
    for kernel_size, stride in ((3, 2), (2, 2), (10, 5)):
        x, weight = torch.randn(batch, time, 16), torch.randn(64, 16, kernel_size)
        bias = torch.randn(64)
        expected = torch.nn.functional.conv1d(x.transpose(1, 2), weight, bias, stride=stride)
        got = strided_conv(x, weight, stride, bias)
        assert torch.allclose(got, expected.transpose(1, 2), atol=1e-4)


def test_bf16_weights_on_every_path(monkeypatch):
    """bfloat16 kernels on float32 frames: computed in bfloat16, returned in float32."""
    torch.manual_seed(0)
    x = torch.randn(1, 40, 16)
    conv = torch.nn.Conv1d(16, 16, 7, groups=4)
    expected = _reference(x, conv).detach()
    weight, bias = conv.weight.detach().bfloat16(), conv.bias.detach().bfloat16()
    for budget in (2**22, 0):  # window products, primitive
        monkeypatch.setattr(frame_conv, "WINDOWS_BUDGET", budget)
        got = conv_frames(x, weight, bias, groups=4)
        assert got.dtype == torch.float32
        assert torch.allclose(got, expected, atol=0.1)


def test_fast_codec_converts_dense_convolutions(speech):
    codec = random_codec("causal")
    lobes = ("encoder", "compressor", "decompressor", "decoder")
    fast = fast_codec(codec, lobes, convolutions=True)
    bf16 = torch.bfloat16
    modulation = fast.compressor.layers[0].focal_block.modulation
    assert modulation.context_proj.weight.dtype == bf16
    assert modulation.layers[0][0].weight.dtype == torch.float32  # depth-wise
    assert fast.encoder.encoder.positional_embedding.conv.weight.dtype == bf16
    assert fast.encoder.feature_extractor.layers[1].conv.weight.dtype == torch.float32
    assert fast.decompressor.layers[0].upscale.upscale.weight.dtype == bf16
    assert fast.decoder.backbone.embedding.weight.dtype == bf16
    assert fast.decoder.backbone.layers[0].dwconv.weight.dtype == torch.float32
    sig = speech[1][None, : 4 * codec.chunk_size]
    with torch.inference_mode():
        toks = fast.sig_to_toks(sig)
        encoder = fast.stream_encoder(1)
        streamed = torch.cat([encoder(chunk) for chunk in sig.split(codec.chunk_size, dim=1)], 1)
        rec = fast.toks_to_sig(toks)
    assert token_agreement(streamed, toks) > 0.9
    assert rec.dtype == torch.float32 and bool(torch.isfinite(rec).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("groups", [64, 4])
def test_kept_convolution_weight(dtype, groups, monkeypatch):
    """Inside a ``kept_weights`` block the primitive's reordered weight is kept
    (one per weight, replaced when the input shape changes): the same results,
    for views of a larger buffer too, and in both precisions."""
    from speechbrain_focalcodec.ops.weight_cache import WeightStore, kept_weights

    monkeypatch.setattr(frame_conv, "SMALL_WINDOWS", 0)  # the primitive
    monkeypatch.setattr(frame_conv, "WINDOWS_BUDGET", 0)
    torch.manual_seed(groups)
    conv = torch.nn.Conv1d(64, 64, 40, groups=groups).to(dtype)
    store = WeightStore()
    buffer = torch.randn(3, 200, 64)
    for x in (buffer[:, 10:53], buffer[:1, 10:53], buffer[:, 5:60].contiguous()):
        with torch.inference_mode():
            expected = conv_frames(x, conv.weight, conv.bias, groups=groups)
            with kept_weights(store):
                got = conv_frames(x, conv.weight, conv.bias, groups=groups)
                again = conv_frames(x, conv.weight, conv.bias, groups=groups)
        # CPUs without bfloat16 instructions (AMD Zen 3) have no bfloat16 primitive.
        assert got.dtype == torch.float32 and len(store) == int(dtype in ONEDNN_CONV)
        assert torch.equal(got, again)
        assert torch.allclose(got, expected, atol=1e-5 if dtype == torch.float32 else 1e-2)
    with torch.enable_grad(), kept_weights(store):  # gradients: the standard primitive
        x = buffer[:, 10:53].clone().requires_grad_()
        conv_frames(x, conv.weight.float(), conv.bias.float(), groups=groups).sum().backward()
    assert x.grad is not None
