"""The low-level operators of ``ops/``: "same" padding of every kernel, derived
weights that follow every weight change, autocast, the capability switch and
the one conversion of relative lengths to counts."""

import copy
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.utils.prune
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from speechbrain_focalcodec.lobes.focal_modulation import FocalModulation
from speechbrain_focalcodec.ops import capability, frame_conv
from speechbrain_focalcodec.ops.capability import fast_kernels, use_fast_kernels
from speechbrain_focalcodec.ops.frame_conv import conv_frames, strided_conv, transposed_conv
from speechbrain_focalcodec.ops.linear import Linear, linear
from speechbrain_focalcodec.ops.padding import lens_to_counts, num_frames_to_lens
from speechbrain_focalcodec.ops.weight_cache import WeightStore, kept_weights

F = torch.nn.functional


def _conv1d(x: torch.Tensor, conv: torch.nn.Conv1d) -> torch.Tensor:
    return conv(x.transpose(1, 2)).transpose(1, 2)


# ------------------------------------------------------------ "same" padding
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 7, 14, 18])
@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 8])
@pytest.mark.parametrize("frames", [1, 5, 200])
def test_same_padding_matches_conv1d(kernel_size, dilation, groups, frames):
    """Odd and even kernels, dilations, lengths: the "same" output keeps the
    length and equals ``Conv1d(padding="same")``, on every path, with and
    without gradients."""
    torch.manual_seed(kernel_size * 100 + frames)
    conv = torch.nn.Conv1d(8, 8, kernel_size, padding="same", dilation=dilation, groups=groups)
    x = torch.randn(2, frames, 8)
    expected = _conv1d(x, conv)
    for budget in (2**22, 0):  # window products, convolution primitive
        for small in (2**16, 0):  # depth-wise: primitive or frame by frame
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(frame_conv, "WINDOWS_BUDGET", budget)
                patch.setattr(frame_conv, "SMALL_WINDOWS", small)
                args = (conv.weight, conv.bias, conv.padding, conv.groups, dilation)
                got = conv_frames(x, *args)
                with torch.enable_grad():
                    trained = conv_frames(x.clone().requires_grad_(), *args)
        assert got.shape == expected.shape == trained.shape == (2, frames, 8)
        assert torch.allclose(got, expected, atol=1e-5)
        assert torch.allclose(trained.detach(), expected, atol=1e-5)


@pytest.mark.parametrize("padding", [0, 1, 2, (3,)])
def test_explicit_padding_matches_conv1d(padding):
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(8, 4, 4, padding=padding, groups=2)
    x = torch.randn(2, 11, 8)
    got = conv_frames(x, conv.weight, conv.bias, conv.padding, conv.groups)
    assert torch.allclose(got, _conv1d(x, conv), atol=1e-5)
    with pytest.raises(ValueError, match="padding"):
        conv_frames(x, conv.weight, conv.bias, "full", conv.groups)


@pytest.mark.parametrize("train", [False, True])
def test_focal_modulation_default_window_keeps_the_length(train):
    """``FocalModulation(64)`` (``focal_window=14``: even kernels) at 200 frames,
    in inference and in training, equals the same layer on standard operators."""
    torch.manual_seed(0)
    layer = FocalModulation(64).train(train)
    x = torch.randn(2, 200, 64)
    num_frames = torch.tensor([200, 150])
    with torch.enable_grad():
        got = layer(x, num_frames)
        with use_fast_kernels(False):
            expected = layer(x, num_frames)
    assert got.shape == (2, 200, 64)
    assert torch.allclose(got, expected, atol=1e-5)


# ------------------------------------------------------------ derived weights
def _edits():
    """Ways of changing a module's weights, each ``edit(module) -> module``."""

    def data_copy(module):
        module.weight.data.copy_(torch.randn_like(module.weight))
        return module

    def data_assign(module):
        module.weight.data = torch.randn_like(module.weight)
        return module

    def data_inplace(module):
        module.weight.data.mul_(-0.5)  # EMA / averaging style
        return module

    def vector(module):
        vector_to_parameters(
            torch.randn_like(parameters_to_vector(module.parameters())), module.parameters()
        )
        return module

    def state_dict(module):
        other = copy.deepcopy(module)
        with torch.no_grad():
            for param in other.parameters():
                param.normal_()
        module.load_state_dict(other.state_dict())
        return module

    def to_dtype(module):
        return module.to(torch.bfloat16).to(torch.float32)

    def prune(module):
        torch.nn.utils.prune.l1_unstructured(module, "weight", amount=0.5)
        torch.nn.utils.prune.remove(module, "weight")
        return module

    def train_step(module):
        module.train()
        optimizer = torch.optim.SGD(module.parameters(), lr=1.0)
        with torch.enable_grad():
            module(torch.randn(3, 67, 32)).square().sum().backward()
        optimizer.step()
        return module.eval()

    return [data_copy, data_assign, data_inplace, vector, state_dict, to_dtype, prune, train_step]


def _linear_module():
    return Linear(32, 48)


class _DepthwiseFrames(torch.nn.Conv1d):
    """A depth-wise convolution on channels-last frames (``conv_frames``)."""

    def __init__(self):
        super().__init__(32, 32, 64, groups=32)

    def forward(self, x):
        return conv_frames(x, self.weight, self.bias, self.padding, self.groups)


@pytest.mark.parametrize("make", [_linear_module, _DepthwiseFrames], ids=["linear", "depthwise"])
@pytest.mark.parametrize(
    "edit, store",
    [(edit, False) for edit in _edits()]
    # Inside a store, in-place edits through ``.data`` need ``store.clear()``
    # (documented, tested below); every other change is seen.
    + [(edit, True) for edit in _edits() if edit.__name__ not in ("data_copy", "data_inplace")],
    ids=lambda value: value.__name__ if callable(value) else ("kept" if value else "default"),
)
def test_weight_edits_are_seen(make, edit, store, monkeypatch):
    """After any change of the weights, short products (streaming chunks, where
    derived weights are kept) give the result of the new weights."""
    monkeypatch.setattr(frame_conv, "SMALL_WINDOWS", 0)  # frame by frame: kept kernel
    torch.manual_seed(0)
    module = make().eval()
    x = torch.randn(1, 67, 32) if isinstance(module, torch.nn.Conv1d) else torch.randn(1, 4, 32)
    owner = WeightStore()

    def run():
        if not store:
            with torch.inference_mode():
                return module(x)
        with torch.inference_mode(), kept_weights(owner):
            return module(x)

    before = run()
    module = edit(module)
    after = run()
    with use_fast_kernels(False), torch.inference_mode():
        expected = module(x)
    assert not torch.allclose(before, expected)
    assert torch.allclose(after, expected, atol=1e-5)
    keys = set(module.state_dict())
    assert keys == {"weight", "bias"}


def test_store_after_clear_sees_data_edits():
    """Inside ``kept_weights``, edits through ``.data`` are seen once the owner
    clears its store; the store holds nothing of a freed weight."""
    torch.manual_seed(0)
    layer, store, x = Linear(32, 48).eval(), WeightStore(), torch.randn(1, 4, 32)
    with torch.inference_mode(), kept_weights(store):
        layer(x)
    layer.weight.data.mul_(2.0)
    store.clear()
    with torch.inference_mode(), kept_weights(store):
        got = layer(x)
    assert torch.allclose(got, F.linear(x, layer.weight, layer.bias), atol=1e-5)
    del layer
    assert len(store) == 0


# ------------------------------------------------------------------- autocast
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_linear_under_autocast_is_nn_linear(dtype):
    torch.manual_seed(0)
    ours, reference = Linear(32, 48), torch.nn.Linear(32, 48)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(3, 5, 32)
    with torch.autocast("cpu", dtype=dtype):
        got, expected = ours(x), reference(x)
        gelu = linear(x, ours.weight, ours.bias, "gelu")
        expected_gelu = torch.nn.GELU()(reference(x))
    assert got.dtype == expected.dtype == dtype
    assert torch.equal(got, expected)
    assert gelu.dtype == expected_gelu.dtype and torch.equal(gelu, expected_gelu)


def test_convolutions_under_autocast_are_nn_conv1d():
    torch.manual_seed(0)
    x = torch.randn(2, 40, 16)
    conv = torch.nn.Conv1d(16, 16, 7, padding="same", groups=4)
    strided = torch.nn.Conv1d(16, 8, 4, stride=2)
    transposed = torch.nn.ConvTranspose1d(16, 8, 2, stride=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pairs = [
            (conv_frames(x, conv.weight, conv.bias, conv.padding, conv.groups), _conv1d(x, conv)),
            (strided_conv(x, strided.weight, 2, strided.bias), _conv1d(x, strided)),
            (transposed_conv(x, transposed.weight, transposed.bias), _conv1d(x, transposed)),
        ]
    for got, expected in pairs:
        assert got.dtype == expected.dtype == torch.bfloat16
        assert torch.equal(got, expected)


# ------------------------------------------------------------- the one switch
def test_standard_operators_give_the_fast_results(monkeypatch):
    """``use_fast_kernels(False)``: every operator is the standard one, same results."""
    torch.manual_seed(0)
    x = torch.randn(2, 40, 16)
    weight, bias = torch.randn(24, 16), torch.randn(24)
    dense = torch.nn.Conv1d(16, 8, 6, padding="same")
    depthwise = torch.nn.Conv1d(16, 16, 30, groups=16)
    strided, transposed = torch.randn(8, 16, 4), torch.randn(16, 8, 3)

    def outputs():
        return [
            linear(x, weight, bias, "gelu"),
            conv_frames(x, dense.weight, dense.bias, dense.padding),
            conv_frames(x, depthwise.weight, depthwise.bias, groups=16),
            strided_conv(x, strided, 2),
            transposed_conv(x, transposed),
        ]

    fast = outputs()
    calls = []
    monkeypatch.setattr(
        torch.ops.mkldnn, "_linear_pointwise", lambda *a: calls.append(a) or 1 / 0, raising=False
    )
    with use_fast_kernels(False):
        assert not fast_kernels()
        standard = outputs()
    assert fast_kernels() and not calls
    for got, expected in zip(fast, standard):
        assert torch.allclose(got, expected, atol=1e-4)


def test_bfloat16_linear_without_a_onednn_primitive(monkeypatch):
    """CPUs without bfloat16 instructions (AMD Zen 3) have no oneDNN bfloat16 linear
    primitive ('could not create a primitive descriptor'): the probe is per dtype
    and such products take ``F.linear``, so the fast mode runs there too."""
    import speechbrain_focalcodec.ops.linear as linear_module

    def no_primitive(x, weight, *args):
        if x.dtype == torch.bfloat16:
            raise RuntimeError("could not create a primitive descriptor")
        return original(x, weight, *args)

    original = torch.ops.mkldnn._linear_pointwise
    monkeypatch.setattr(linear_module, "ONEDNN_LINEAR", frozenset({torch.float32}))
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", no_primitive)
    x, weight = torch.randn(3, 8), torch.randn(4, 8, dtype=torch.bfloat16)
    with torch.inference_mode(), use_fast_kernels(True):
        y = linear(x, weight, activation="gelu")
    expected = torch.nn.functional.gelu(torch.nn.functional.linear(x.bfloat16(), weight))
    assert y.dtype == torch.float32 and torch.equal(y, expected.float())
    monkeypatch.undo()
    for dtype in (torch.float32, torch.bfloat16):  # the probe answers, never raises
        assert capability._probe_onednn_linear(dtype) == (dtype in capability.ONEDNN_LINEAR)


@pytest.mark.skipif(torch.float32 not in capability.ONEDNN_LINEAR, reason="no oneDNN linear")
@pytest.mark.parametrize("onednn_wins", [False, True])
def test_long_products_take_the_library_measured_faster(monkeypatch, onednn_wins):
    """Products of up to 64 rows (streams) always run on oneDNN; longer ones on oneDNN
    only where it was measured faster than F.linear (not on AMD Zen 3, where MKL's
    products of 500 rows are 12-22 % faster), with the same results either way."""
    import speechbrain_focalcodec.ops.linear as linear_module

    calls = []
    original = torch.ops.mkldnn._linear_pointwise

    def spy(x, *args):
        calls.append(x.shape[0])
        return original(x, *args)

    monkeypatch.setattr(linear_module, "onednn_wins_large_products", lambda: onednn_wins)
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", spy)
    weight, bias = torch.randn(24, 32), torch.randn(24)
    short_rows, long_rows = linear_module.PACKED_ROWS[torch.float32], 200
    middle_rows = linear_module.MEASURED_ROWS  # several concurrent streams
    for rows in (short_rows, middle_rows, long_rows):
        x = torch.randn(rows, 32)
        with torch.inference_mode(), use_fast_kernels(True):
            y = linear(x, weight, bias, activation="gelu")
        expected = torch.nn.functional.gelu(torch.nn.functional.linear(x, weight, bias))
        assert torch.allclose(y, expected, atol=1e-5)
    assert calls == [short_rows, middle_rows] + ([long_rows] if onednn_wins else [])
    monkeypatch.undo()
    assert isinstance(capability.onednn_wins_large_products(), bool)  # measured once


def test_environment_switch_and_capability_probe():
    code = (
        "import torch; from speechbrain_focalcodec.ops import capability as c; "
        "print(c.fast_kernels(), torch.float32 in c.ONEDNN_LINEAR)"
    )
    env = dict(os.environ, FOCALCODEC_FAST_KERNELS="0")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"]
    assert capability.ONEDNN_LINEAR <= {torch.float32, torch.bfloat16}


# ---------------------------------------------------------- lengths to counts
def test_lens_to_counts_round_trips_and_rounds_once():
    for max_len in (1, 7, 49, 320, 16000, 160000, 4_800_000):
        counts = torch.unique(torch.linspace(1, max_len, 97).long())
        lens = num_frames_to_lens(counts, max_len, counts.shape[0], counts.device)
        assert lens.dtype == torch.float32
        assert torch.equal(lens_to_counts(lens, max_len), counts)
    assert torch.equal(lens_to_counts(torch.tensor([1e-9, 0.5, 1.0]), 7), torch.tensor([1, 4, 7]))
    assert lens_to_counts(None, 7) is None
