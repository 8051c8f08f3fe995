"""Linear layers that run on oneDNN for CPU inference.

PyTorch sends float32 matrix products on CPU to MKL's sgemm, which on some
processors (AMD Zen 4 and Zen 5 among them) takes a path well below the speed
of oneDNN's kernels, while on others (AMD Zen 3) it is the faster of the two.
For inference (no gradient needed), ``linear`` calls oneDNN's linear primitive
directly, optionally fused with the exact GELU, for products of up to
``MEASURED_ROWS`` rows (faster on every CPU measured) and for longer ones where
a measurement at the first such product found oneDNN faster
(``capability.onednn_wins_large_products``);
everywhere else (training, GPU, other dtypes) it is
``torch.nn.functional.linear``, and so it is for exports (ONNX, TorchScript
tracing), ``torch.compile``, under ``torch.autocast`` (exactly ``nn.Linear``,
output dtype included) and when the fast kernels are switched off (see
``capability.py``). Results agree with it to float32 rounding.

Products of a few rows (streaming chunks) are bound by reading the weight,
which oneDNN otherwise reorders to its blocked layout on every call: inside a
``kept_weights`` block (see ``weight_cache.py``) the reordered weight of a
parameter is kept in the block's store, with identical results.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.ops.capability import (
    ONEDNN_LINEAR,
    fast_kernels,
    onednn_wins_large_products,
)
from speechbrain_focalcodec.ops.weight_cache import store_for

__all__ = ["Linear", "linear", "product_dtype"]

# Products of at most this many rows (streaming chunks) read the whole weight
# for a few frames: oneDNN's reordering of the weight to its blocked layout
# would then dominate, so inside a ``kept_weights`` block the reordered weight
# of a parameter is kept (for the last row count used; results are
# identical). One copy at most per weight: inputs of varying short lengths
# reorder again rather than accumulate copies. bfloat16 products stay bound by
# the weight for more rows (several concurrent streams, 4 frames each).
PACKED_ROWS = {torch.float32: 16, torch.bfloat16: 64}
# Float32 products of more rows than this (offline encoding and decoding) run on
# whichever of oneDNN and ``F.linear`` was measured faster on this CPU; up to it
# (streaming chunks, up to 16 concurrent streams) oneDNN was faster on every CPU
# measured (on AMD Zen 3: 1.2x to 4x from 4 to 64 rows; at 125 rows, the 12.5 Hz
# decompressor's products, it lost: decode 0.86-0.95x the official speed, 1.01x
# with those products on ``F.linear``).
MEASURED_ROWS = 64


def _use_onednn(x: Tensor, weight: Tensor, bias: Optional[Tensor], rows: int) -> bool:
    if x.device.type != "cpu" or x.dtype not in ONEDNN_LINEAR:
        return False
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        return False
    if not fast_kernels(x.device.type):
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return False
    if x.dtype == torch.float32 and rows > MEASURED_ROWS:
        return onednn_wins_large_products()
    return True


def _packed_weight(weight: Tensor, rows: int) -> Tensor:
    """The weight reordered by oneDNN for ``rows``-row products, kept in the
    active store, when it is a parameter (or a view of one) and the product is
    short; else ``weight``."""
    store = store_for(weight)
    if store is None or rows > PACKED_ROWS[weight.dtype]:
        return weight
    return store.get(
        weight,
        "onednn_linear",
        lambda w: torch.ops.mkldnn._reorder_linear_weight(w, rows),
        detail=(rows,),
    )


def product_dtype(x: Tensor, weight: Tensor) -> torch.dtype:
    """The precision in which a block computes from ``x`` with ``weight``: that of
    the weight when it is a lower floating point precision (the fast mode's
    bfloat16 weights, see ``fast_mode.py``), else that of ``x`` (whose
    precision ``torch.autocast`` then decides).

    Arguments
    ---------
    x : torch.Tensor
        Activations.
    weight : torch.Tensor
        The weight they meet.

    Returns
    -------
    dtype : torch.dtype

    Example
    -------
    >>> x = torch.randn(2, 8)
    >>> product_dtype(x, torch.randn(4, 8, dtype=torch.bfloat16))
    torch.bfloat16
    >>> product_dtype(x, torch.randn(4, 8, dtype=torch.float64))
    torch.float32
    """
    if torch.is_autocast_enabled(x.device.type) or not weight.is_floating_point():
        return x.dtype
    return weight.dtype if weight.element_size() < x.element_size() else x.dtype


def linear(
    x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, activation: Optional[str] = None
) -> Tensor:
    """``x @ weight.T + bias``, optionally followed by the exact GELU.

    The product is computed in the precision of ``weight`` and returned in
    that of ``x``: bfloat16 weights (see ``fast_mode.py``) give bfloat16
    products between float32 activations. Under ``torch.autocast`` it is
    exactly ``nn.Linear`` (then ``nn.GELU``), output dtype included.

    Arguments
    ---------
    x : torch.Tensor
        Input, shape ``[..., in_features]``.
    weight : torch.Tensor
        Shape ``[out_features, in_features]``.
    bias : torch.Tensor, optional
        Shape ``[out_features]``.
    activation : str, optional
        ``"gelu"`` to apply the exact (erf) GELU to the result.

    Returns
    -------
    y : torch.Tensor
        Shape ``[..., out_features]``.

    Example
    -------
    >>> x, weight, bias = torch.randn(2, 5, 8), torch.randn(4, 8), torch.randn(4)
    >>> y = linear(x, weight, bias, activation="gelu")
    >>> expected = torch.nn.functional.gelu(torch.nn.functional.linear(x, weight, bias))
    >>> y.shape, bool(torch.allclose(y, expected, atol=1e-5))
    (torch.Size([2, 5, 4]), True)
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     linear(x, weight, bias).dtype
    torch.bfloat16
    """
    if activation not in (None, "gelu"):
        raise ValueError(f"`activation` must be None or 'gelu', got {activation!r}")
    if torch.is_autocast_enabled(x.device.type):
        y = nn.functional.linear(x, weight, bias)
        return nn.functional.gelu(y) if activation == "gelu" else y
    dtype = x.dtype
    x = x.to(weight.dtype)
    rows = x.numel() // max(x.shape[-1], 1)
    if _use_onednn(x, weight, bias, rows):
        weight = _packed_weight(weight, rows)
        y = torch.ops.mkldnn._linear_pointwise(
            x, weight, bias, activation or "none", [], "none" if activation else ""
        )
        return y.to(dtype)
    y = nn.functional.linear(x, weight, bias)
    return (nn.functional.gelu(y) if activation == "gelu" else y).to(dtype)


class Linear(nn.Linear):
    """``torch.nn.Linear`` (same parameters and state-dict keys) computed by ``linear``.

    Arguments
    ---------
    in_features : int
        Input size.
    out_features : int
        Output size.
    bias : bool
        Whether to add a learnable bias.

    Example
    -------
    >>> layer = Linear(8, 4)
    >>> layer(torch.randn(3, 8)).shape
    torch.Size([3, 4])
    """

    def forward(self, x: Tensor) -> Tensor:
        """Applies the layer.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[..., in_features]``.

        Returns
        -------
        y : torch.Tensor
            Shape ``[..., out_features]``.
        """
        return linear(x, self.weight, self.bias)
