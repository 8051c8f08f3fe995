"""Linear layers with int8 weights and dynamically quantized int8 inputs (CPU).

When a few frames go through the model (a streaming chunk), a linear layer
reads its whole weight for little arithmetic: the time is the weight's
memory traffic. ``Int8Linear`` keeps the weight as int8 (one scale per output
channel, symmetric), a quarter of the float32 bytes, and quantizes each
input to 8 bits at run time (one scale for the whole input); the product
runs through PyTorch's dynamic quantized linear operator, which uses the
integer dot-product instructions (VNNI, AMX-INT8) where the CPU has them.
Without VNNI the inputs keep 7 bits (``reduce_range``), which avoids
saturating the 16-bit sums of the older instructions. Results approximate
the float32 layer (see ``fast_mode.py`` for the token agreement).

Authors
 * speechbrain-focalcodec developers 2026
"""

import warnings
from functools import lru_cache
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ["Int8Linear", "int8_supported"]


@lru_cache(maxsize=1)
def _has_vnni() -> bool:
    """Whether the CPU advertises integer dot-product instructions (VNNI or AMX-INT8)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set(text.split())
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def int8_supported() -> bool:
    """Whether this build of PyTorch has a dynamic int8 linear operator on CPU.

    Returns
    -------
    supported : bool

    Example
    -------
    >>> isinstance(int8_supported(), bool)
    True
    """
    engines = torch.backends.quantized.supported_engines
    return hasattr(torch.ops.quantized, "linear_dynamic") and any(
        engine in engines for engine in ("x86", "fbgemm", "onednn")
    )


class Int8Linear(nn.Module):
    """A frozen copy of a linear layer computing with int8 weights and inputs (CPU).

    Arguments
    ---------
    layer : torch.nn.Linear
        The float layer to copy (left unchanged).

    Example
    -------
    >>> layer = torch.nn.Linear(64, 32)
    >>> fast = Int8Linear(layer)
    >>> x = torch.randn(3, 5, 64)
    >>> y = fast(x)
    >>> y.shape, bool((y - layer(x)).abs().max() < 0.05)
    (torch.Size([3, 5, 32]), True)
    """

    def __init__(self, layer: nn.Linear) -> None:
        super().__init__()
        if layer.weight.device.type != "cpu":
            raise ValueError("int8 linear layers run on CPU only")
        self.in_features, self.out_features = layer.in_features, layer.out_features
        weight = layer.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()
        zeros = torch.zeros(self.out_features, dtype=torch.long)
        bias = None if layer.bias is None else layer.bias.detach().float()
        with warnings.catch_warnings():  # PyTorch flags its quantized tensors as legacy
            warnings.simplefilter("ignore")
            qweight = torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(qweight, bias)
        self._reduce_range = not _has_vnni()

    def forward(self, x: Tensor, activation: Optional[str] = None) -> Tensor:
        """Applies the layer (and the exact GELU with ``activation="gelu"``).

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[..., in_features]`` (float).
        activation : str, optional
            None or ``"gelu"``.

        Returns
        -------
        y : torch.Tensor
            Shape ``[..., out_features]``, in the dtype of ``x``.
        """
        if activation not in (None, "gelu"):
            raise ValueError(f"`activation` must be None or 'gelu', got {activation!r}")
        rows = x.reshape(-1, self.in_features).float().contiguous()
        y = torch.ops.quantized.linear_dynamic(rows, self._packed, self._reduce_range)
        y = y.reshape(*x.shape[:-1], self.out_features)
        if activation == "gelu":
            y = nn.functional.gelu(y)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        """The sizes, as ``nn.Linear`` prints them."""
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"
