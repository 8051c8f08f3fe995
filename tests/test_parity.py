"""Every path computes the same function: per lobe and for the codec, offline and
causal, with ``lens``, inference (no gradient) == gradient-enabled forward ==
``torch.compile(fullgraph=True)`` == a float64 reference, within float32
tolerance; no host synchronisation with ``lens``; autocast output dtypes and
gradients equal to those of the standard operators (``nn.Linear``,
``nn.Conv1d``); weight edits seen.

Device-parametrised (marker ``device``): they run on ``FOCALCODEC_TEST_DEVICE``
(CPU by default; ``python -m benchmarks.gpu_check`` runs them on CUDA). The
compiler backend is ``FOCALCODEC_TEST_COMPILE_BACKEND``: ``eager`` by default
(Dynamo's capture of the whole graph, which is what ``fullgraph`` checks,
without the minutes of code generation on CPU), ``inductor`` on GPUs.
"""

import copy
import os
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Tuple

import pytest
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch.overrides import TorchFunctionMode

from speechbrain_focalcodec.lobes.focal_modulation import FocalBlock, FocalModulation
from speechbrain_focalcodec.ops.capability import use_fast_kernels
from speechbrain_focalcodec.tiny import TINY_VARIANTS, tiny_codec

pytestmark = pytest.mark.device

BACKEND = os.environ.get("FOCALCODEC_TEST_COMPILE_BACKEND", "eager")
LENS = (1.0, 0.6)


class NoHostReads(TorchFunctionMode):
    """Fails on any read of tensor values by the host (a device synchronisation)."""

    READS = {
        torch.Tensor.item,
        torch.Tensor.tolist,
        torch.Tensor.__bool__,
        torch.Tensor.__int__,
        torch.Tensor.__float__,
        torch.Tensor.__index__,
        torch.Tensor.numpy,
        torch.Tensor.nonzero,
        torch.nonzero,
        torch.Tensor.cpu,
    }

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.READS:
            raise AssertionError(f"host read of a tensor value: {getattr(func, '__name__', func)}")
        return func(*args, **(kwargs or {}))


@contextmanager
def fresh_dynamo() -> Iterator[None]:
    torch._dynamo.reset()
    try:
        yield
    finally:
        torch._dynamo.reset()


def _close(got: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-4) -> bool:
    """Within float32 tolerance, relative to the output's scale."""
    got, expected = got.double(), expected.double()
    scale = expected.abs().max().clamp(min=1.0)
    return bool((got - expected).abs().max() <= rtol * scale)


def _first(output):
    return output[0] if isinstance(output, tuple) else output


# ---------------------------------------------------------------------- lobes
Case = Tuple[torch.nn.Module, Callable[[torch.device], List]]


def _lobes(kind: str) -> Dict[str, Case]:
    """The lobes of a tiny codec (offline: 50 Hz with Vocos; causal: WaveNeXt)
    and their inputs with lengths (relative ``lens`` or frame counts)."""
    codec = tiny_codec("50hz" if kind == "offline" else "causal")
    lens = torch.tensor(LENS)
    gen = torch.Generator().manual_seed(0)

    def frames(dim: int, time: int = 24) -> Callable:
        x = torch.randn(2, time, dim, generator=gen)
        return lambda device: [x.to(device), torch.tensor([time, 15], device=device)]

    def relative(*shape: int) -> Callable:
        x = torch.randn(*shape, generator=gen)
        return lambda device: [x.to(device), lens.to(device)]

    causal = kind == "causal"
    cases = {
        "wavlm": (codec.encoder, relative(2, 4000)),
        "attention": (codec.encoder.encoder, frames(64)),
        "compressor": (codec.compressor, relative(2, 24, 64)),
        "focal_block": (codec.compressor.layers[0].focal_block, frames(48)),
        "decompressor": (codec.decompressor, relative(2, 24, codec.code_dim)),
        "decoder": (codec.decoder, relative(2, 24, 64)),
        "convnext": (codec.decoder.backbone, frames(64)),
        # The layers' own defaults (focal_window=14: even kernels offline).
        "focal_modulation": (
            FocalModulation(32, causal=causal, window_size=16).eval(),
            frames(32, 40),
        ),
        "focal_block_default": (
            FocalBlock(32, 64, causal=causal, window_size=16).eval(),
            frames(32, 40),
        ),
    }
    return cases


STANDALONE = ("focal_block_default",)  # its FocalModulation included
NAMES = (
    "wavlm",
    "attention",
    "compressor",
    "focal_block",
    "decompressor",
    "decoder",
    "convnext",
    "focal_modulation",
    "focal_block_default",
)
LOBES = [(kind, name) for kind in ("offline", "causal") for name in NAMES]


@pytest.fixture(scope="module")
def lobes() -> Dict[str, Dict[str, Case]]:
    cases = {kind: _lobes(kind) for kind in ("offline", "causal")}
    assert all(set(named) == set(NAMES) for named in cases.values())
    return cases


@pytest.mark.parametrize("kind, name", LOBES)
def test_lobe_paths_compute_one_function(kind, name, lobes, device):
    module, make_inputs = lobes[kind][name]
    module = copy.deepcopy(module).to(device).eval()
    inputs = make_inputs(device)
    with torch.inference_mode():
        inference = _first(module(*inputs))
    with NoHostReads():  # with lengths, the lobes never synchronise with the device
        no_grad = _first(module(*inputs))
    with torch.enable_grad():
        x = inputs[0].clone().requires_grad_()
        trained = _first(module(x, *inputs[1:]))
        assert trained.requires_grad  # the gradient path really ran
    reference = copy.deepcopy(module).double()
    with use_fast_kernels(False):
        float64 = _first(reference(inputs[0].double(), *inputs[1:]))
    outputs = [inference, trained.detach()]
    if name in STANDALONE:  # the codec's lobes compile within its forward (below)
        with fresh_dynamo():
            outputs.append(_first(torch.compile(module, fullgraph=True, backend=BACKEND)(*inputs)))
    assert inference.shape == trained.shape == float64.shape
    assert torch.equal(inference, no_grad)
    for got in outputs:
        assert got.shape == float64.shape and _close(got, float64), name


@pytest.mark.parametrize("kind, name", LOBES)
def test_lobe_gradients_equal_the_standard_operators(kind, name, lobes, device):
    """Gradients through the fast paths equal those through ``F.linear`` /
    ``F.conv1d`` (``use_fast_kernels(False)``) with the same weights."""
    module, make_inputs = lobes[kind][name]
    module = copy.deepcopy(module).to(device).eval()
    inputs = make_inputs(device)
    grads = []
    for fast in (True, False):
        module.zero_grad(set_to_none=True)
        x = inputs[0].clone().requires_grad_()
        with torch.enable_grad(), use_fast_kernels(fast):
            output = _first(module(x, *inputs[1:]))
            output.float().square().mean().backward()
        grads.append([x.grad] + [p.grad for p in module.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 1
    for got, expected in zip(*grads):
        assert _close(got, expected, rtol=1e-3)


@pytest.mark.parametrize("kind", ["offline", "causal"])
def test_lobes_under_autocast_match_the_standard_operators(kind, lobes, device):
    """Under autocast the lobes give the dtypes and values of the same lobes on
    ``nn.Linear`` / ``nn.Conv1d``'s operators (float16 too on GPUs)."""
    dtypes = [torch.bfloat16] + ([torch.float16] if device.type == "cuda" else [])
    top = ("wavlm", "compressor", "decompressor", "decoder", "focal_block_default")
    for (name, (module, make_inputs)), dtype in (
        (case, dtype) for case in lobes[kind].items() if case[0] in top for dtype in dtypes
    ):
        module = copy.deepcopy(module).to(device).eval()
        inputs = make_inputs(device)
        with torch.autocast(device.type, dtype=dtype):
            got = _first(module(*inputs))
            with use_fast_kernels(False):
                expected = _first(module(*inputs))
        assert got.dtype == expected.dtype, name
        assert torch.equal(got, expected), name


def test_linear_and_conv_gradients_equal_nn_modules(device):
    """The fast-path operators' gradients equal ``nn.Linear``'s and ``nn.Conv1d``'s."""
    from speechbrain_focalcodec.ops.frame_conv import conv_frames, strided_conv
    from speechbrain_focalcodec.ops.linear import Linear

    torch.manual_seed(0)
    ours = Linear(16, 24).to(device)
    plain = torch.nn.Linear(16, 24).to(device)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(2, 5, 16, device=device)
    with torch.enable_grad():
        ours(x).square().sum().backward()
        plain(x).square().sum().backward()
    assert _close(ours.weight.grad, plain.weight.grad) and _close(ours.bias.grad, plain.bias.grad)
    for kernel, groups, padding, stride in ((7, 16, "same", 1), (6, 4, "same", 1), (4, 1, 0, 2)):
        conv = torch.nn.Conv1d(16, 16, kernel, stride, padding, groups=groups).to(device)
        grads = []
        for fast in (True, False):
            conv.zero_grad(set_to_none=True)
            with torch.enable_grad():
                if fast and stride > 1:
                    y = strided_conv(x, conv.weight, stride, conv.bias)
                elif fast:
                    y = conv_frames(x, conv.weight, conv.bias, conv.padding, conv.groups)
                else:
                    y = conv(x.transpose(1, 2)).transpose(1, 2)
                y.square().sum().backward()
            grads.append((conv.weight.grad, conv.bias.grad))
        assert all(_close(a, b) for a, b in zip(*grads))


# ---------------------------------------------------------------------- codec
@pytest.fixture(scope="module")
def codecs() -> Dict[str, torch.nn.Module]:
    return {variant: tiny_codec(variant) for variant in TINY_VARIANTS}


def _batch(device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, 6400, generator=gen).to(device), torch.tensor(LENS, device=device)


@pytest.mark.parametrize("variant", TINY_VARIANTS)
def test_codec_paths_compute_one_function(variant, codecs, device):
    """``sig_to_lats`` and ``toks_to_sig`` with ``lens``: inference ==
    gradient-enabled == float64; ``forward`` (every stage of every transform,
    each lobe with its lengths) compiled with ``fullgraph`` == eager."""
    codec = copy.deepcopy(codecs[variant]).to(device)
    sig, lens = _batch(device)
    toks_lens = codec.toks_lens(lens, sig.shape[1])
    with torch.inference_mode():
        toks = codec.sig_to_toks(sig, lens)
        lats = codec.sig_to_lats(sig, lens)
        rec = codec.toks_to_sig(toks, toks_lens)
    with NoHostReads():  # past the API's validation, nothing reads values on the host
        assert torch.equal(codec._compress(*codec._encode(sig, lens))[0], lats)
        codes = codec.quantizer.toks_to_codes(toks)
        assert torch.equal(codec._decode(codec._decompress(codes, toks_lens), toks_lens), rec)
    with torch.enable_grad():
        x = sig.clone().requires_grad_()
        trained_lats = codec.sig_to_lats(x, lens)
        assert trained_lats.requires_grad
    reference = copy.deepcopy(codec).double()
    with use_fast_kernels(False):
        float64_lats = reference.sig_to_lats(sig.double(), lens)
        float64_rec = reference.toks_to_sig(toks, toks_lens)
    with fresh_dynamo():
        compiled_forward = torch.compile(codec.forward, fullgraph=True, backend=BACKEND)
        compiled_toks, compiled_codes, compiled_rec_sig = compiled_forward(sig, lens)
    eager_toks, eager_codes, eager_rec_sig = codec(sig, lens)
    assert _close(lats, float64_lats) and _close(trained_lats.detach(), float64_lats)
    assert _close(rec, float64_rec)
    assert _close(compiled_rec_sig, eager_rec_sig)
    # A token can flip where a latent sits on a quantization boundary.
    agree = (compiled_toks == eager_toks).float().mean()
    assert agree > 0.95 and torch.equal(eager_toks, toks)
    assert (compiled_codes == eager_codes).float().mean() > 0.95


def test_compiled_decoding_and_validation(codecs):
    """``toks_to_sig`` with ``lens`` compiles (fullgraph) and equals eager;
    compiled, the API's checks of values run on the device (no host read)."""
    codec = codecs["causal"]
    sig, lens = _batch(torch.device("cpu"))
    toks, toks_lens = codec.sig_to_toks(sig, lens), codec.toks_lens(lens, sig.shape[1])
    with fresh_dynamo():
        compiled = torch.compile(codec.toks_to_sig, fullgraph=True, backend=BACKEND)
        assert _close(compiled(toks, toks_lens), codec.toks_to_sig(toks, toks_lens))
        with pytest.raises(RuntimeError, match="lens"):
            compiled(toks, torch.tensor([1.0, 1.5]))
        with pytest.raises(RuntimeError, match="toks"):
            compiled(toks + codec.codebook_size, toks_lens)


@pytest.mark.parametrize("variant", ["50hz", "causal"])
def test_codec_sees_weight_edits(variant, codecs, device):
    """Weights edited in place through ``.data`` (EMA, averaging) between two
    inference calls: the codec computes with the new weights."""
    codec = copy.deepcopy(codecs[variant]).to(device)
    sig, lens = _batch(device)
    sig = sig[:, : 4 * codec.chunk_size]
    with torch.inference_mode():
        before = codec.sig_to_lats(sig, lens)
        toks = codec.sig_to_toks(sig[:1, : codec.chunk_size])  # short products
    params = list(codec.parameters())
    vector = parameters_to_vector(params)
    vector_to_parameters(vector * 1.05, params)
    for param in params:
        param.data.mul_(0.98)
    fresh = copy.deepcopy(codec)
    with torch.inference_mode():
        after = codec.sig_to_lats(sig, lens)
        expected = fresh.sig_to_lats(sig, lens)
        assert torch.equal(
            codec.sig_to_lats(sig[:1, : codec.chunk_size]),
            fresh.sig_to_lats(sig[:1, : codec.chunk_size]),
        )
    assert toks.shape[1] > 0 and not torch.allclose(before, after)
    assert torch.equal(after, expected)
