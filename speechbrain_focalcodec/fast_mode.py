"""Fast mode: bfloat16 matrix products between float32 activations.

``fast_codec`` returns a copy of a codec whose linear layers (and, on
request, the strided convolutions of the encoder's feature extractor) hold
bfloat16 weights. Those layers cast their input to bfloat16 and their output
back to float32 (see ``ops/linear.py``), so that normalizations, residual
sums and quantization stay float32. The attention of a transformer layer
whose projections are bfloat16 runs in bfloat16 (``ops/linear.py:
product_dtype``; the queries, keys and values are bfloat16 products already),
and streams keep its caches in bfloat16. On CPUs with bfloat16
instructions (``avx512_bf16`` or AMX in ``lscpu``) oneDNN runs bfloat16
products at two to four times the float32 rate; on GPUs they run on the
tensor cores. CPUs without them (AMD Zen 3, for one) compute bfloat16 products
several times slower than float32 ones: ``fast_codec`` warns there. Tokens
differ from the float32 ones where a latent lies close to zero:
``token_agreement`` measures it (``benchmarks/fast_mode.py`` reports it).

Authors
 * speechbrain-focalcodec developers 2026
"""

import copy
import warnings
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.lobes.wavlm import ConvBlock
from speechbrain_focalcodec.ops.padding import lens_to_counts

__all__ = ["bf16_supported", "fast_codec", "token_agreement"]


def bf16_supported(device: Union[str, torch.device] = "cpu") -> bool:
    """Whether ``device`` has fast bfloat16 matrix products.

    Arguments
    ---------
    device : torch.device
        A CPU or CUDA device.

    Returns
    -------
    supported : bool

    Example
    -------
    >>> isinstance(bf16_supported(torch.device("cpu")), bool)
    True
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def fast_codec(
    codec: FocalCodec,
    modules: Sequence[str] = ("encoder",),
    feature_extractor: bool = False,
    dtype: torch.dtype = torch.bfloat16,
    convolutions: bool = False,
) -> FocalCodec:
    """A copy of ``codec`` whose linear layers in ``modules`` compute in ``dtype``.

    Arguments
    ---------
    codec : FocalCodec
        The float32 codec (left unchanged).
    modules : sequence of str
        Dotted names of the sub-modules whose linear layers are converted,
        e.g. ``"encoder"`` (the WavLM transformer: most of the encoding
        FLOPs), ``"compressor"``, ``"decompressor"``, ``"decoder"``.
    feature_extractor : bool
        Also convert the strided convolutions of the encoder's feature
        extractor (faster still, but their rounding moves the latents most).
    dtype : torch.dtype
        ``torch.bfloat16`` (or ``torch.float16`` on GPU).
    convolutions : bool
        Also convert the convolutions in ``modules`` that are matrix products
        (all but the depth-wise ones: point-wise projections, positional
        convolution, down- and up-scaling, decoder input convolution); they
        weigh most when streaming, whose chunks read every weight for a few
        frames.

    Returns
    -------
    codec : FocalCodec
        In eval mode, on the same device. A ``UserWarning`` says so when the
        device has no fast bfloat16 products (``bf16_supported``): the copy
        then computes correctly but slower than ``codec``.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("50hz")
    >>> fast = fast_codec(codec)
    >>> fast.encoder.encoder.layers[0].feed_forward.in_proj.weight.dtype
    torch.bfloat16
    >>> sig = torch.randn(1, 16000)
    >>> toks = fast.sig_to_toks(sig)
    >>> toks.shape == codec.sig_to_toks(sig).shape, toks.dtype
    (True, torch.int64)
    """
    device = next(codec.parameters()).device
    if dtype == torch.bfloat16 and not bf16_supported(device):
        warnings.warn(
            f"{device} has no bfloat16 matrix instructions: the fast mode computes "
            "there, but slower than float32",
            stacklevel=2,
        )
    fast = copy.deepcopy(codec).eval()
    names = dict(fast.named_modules())
    # The feature extractor has its own switch.
    extractor = {id(module) for module in fast.encoder.feature_extractor.modules()}
    for name in modules:
        if name not in names or name == "":
            raise ValueError(f"No module {name!r} in the codec")
        for module in names[name].modules():
            dense = convolutions and _dense_conv(module) and id(module) not in extractor
            if isinstance(module, nn.Linear) or dense:
                module.to(dtype)
    if feature_extractor:
        for module in fast.encoder.feature_extractor.modules():
            if isinstance(module, ConvBlock):
                module.conv.to(dtype)
    return fast


def _dense_conv(module: nn.Module) -> bool:
    """Whether ``module`` is a convolution computed as matrix products (not depth-wise)."""
    convs = (nn.Conv1d, nn.ConvTranspose1d)
    return isinstance(module, convs) and module.groups < module.in_channels


def token_agreement(toks: Tensor, reference: Tensor, lens: Optional[Tensor] = None) -> float:
    """Fraction of tokens equal to the reference tokens (valid positions only).

    Arguments
    ---------
    toks : torch.Tensor
        Tokens, ``[batch, tokens]``.
    reference : torch.Tensor
        Reference tokens, same shape.
    lens : torch.Tensor, optional
        Relative lengths.

    Returns
    -------
    agreement : float
        In [0, 1].

    Example
    -------
    >>> token_agreement(torch.tensor([[1, 2, 3, 4]]), torch.tensor([[1, 2, 0, 4]]))
    0.75
    """
    if toks.shape != reference.shape:
        raise ValueError(f"Shapes differ: {list(toks.shape)} and {list(reference.shape)}")
    equal = toks == reference
    if lens is not None:
        counts = lens_to_counts(lens, toks.shape[1])
        valid = torch.arange(toks.shape[1], device=toks.device)[None] < counts[:, None]
        return float(equal[valid].float().mean())
    return float(equal.float().mean())
