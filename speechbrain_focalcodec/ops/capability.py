"""The one switch in front of the fast kernels of ``ops/``.

The fast paths (oneDNN's linear primitive called through PyTorch's private
``torch.ops.mkldnn`` operators, window products and channels-last
convolutions of frames) compute the same function as the standard operators
(``torch.nn.functional.linear``, ``conv1d``, ``conv_transpose1d``). They run
only when:

* the private oneDNN operators exist and give the standard result on this
  build of PyTorch and CPU, per dtype (probed once, at import; ``ONEDNN_LINEAR``,
  ``ONEDNN_CONV``);
* they are enabled: by default, unless the environment variable
  ``FOCALCODEC_FAST_KERNELS=0`` is set or the code runs inside
  ``use_fast_kernels(False)``;
* no exporter or compiler is tracing (ONNX, TorchScript tracing and
  ``torch.compile`` see the standard operators);
* autocast is off on the input's device (under ``torch.autocast`` the
  operators are exactly ``nn.Linear`` / ``nn.Conv1d``'s, output dtypes
  included).

Authors
 * speechbrain-focalcodec developers 2026
"""

import functools
import os
import time
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = [
    "ONEDNN_CONV",
    "ONEDNN_LINEAR",
    "fast_kernels",
    "onednn_wins_large_products",
    "tracing",
    "use_fast_kernels",
]


def _probe_onednn_linear(dtype: torch.dtype) -> bool:
    """Whether oneDNN's private linear operators exist and compute ``F.linear`` in
    ``dtype`` (CPUs without bfloat16 instructions, AMD Zen 3 among them, have no
    bfloat16 linear primitive: the standard operator computes it there)."""
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        x = (torch.arange(6.0).view(2, 3)).to(dtype)
        weight = (torch.arange(12.0).view(4, 3) / 8.0).to(dtype)
        bias = torch.arange(4.0).to(dtype)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 2)
        got = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
        return bool(torch.equal(got, torch.nn.functional.linear(x, weight, bias)))
    except (AttributeError, RuntimeError, TypeError):
        return False


def _probe_onednn_conv(dtype: torch.dtype) -> bool:
    """Whether oneDNN's private convolution operators exist and compute ``F.conv2d``
    in ``dtype`` with a weight reordered ahead of the call (channels-last frames)."""
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        last = torch.channels_last
        x = (torch.arange(24.0).view(1, 4, 1, 6) / 8.0).to(dtype).contiguous(memory_format=last)
        weight = (torch.arange(12.0).view(4, 1, 1, 3) / 4.0).to(dtype)
        weight = weight.contiguous(memory_format=last)
        bias = torch.arange(4.0).to(dtype)
        packed = torch._C._nn.mkldnn_reorder_conv2d_weight(
            weight.to_mkldnn(), [0, 1], [1, 1], [1, 1], 4, list(x.shape)
        )
        got = torch.ops.mkldnn._convolution_pointwise(
            x, packed, bias, [0, 1], [1, 1], [1, 1], 4, "none", [], ""
        )
        expected = torch.nn.functional.conv2d(x, weight, bias, padding=(0, 1), groups=4)
        return bool(torch.equal(got, expected))
    except (AttributeError, RuntimeError, TypeError):
        return False


# The dtypes in which linear layers run on oneDNN.
ONEDNN_LINEAR = frozenset(
    dtype for dtype in (torch.float32, torch.bfloat16) if _probe_onednn_linear(dtype)
)
# The dtypes in which the convolutions of streams may keep reordered weights.
ONEDNN_CONV = frozenset(
    dtype for dtype in (torch.float32, torch.bfloat16) if _probe_onednn_conv(dtype)
)
_enabled = os.environ.get("FOCALCODEC_FAST_KERNELS", "1").strip() not in ("0", "false", "no")


@functools.cache
def onednn_wins_large_products() -> bool:
    """Whether oneDNN's float32 linear primitive beats ``F.linear`` on products of
    many rows on this CPU, measured once per process (about 80 ms, at the first
    such product).

    Which library is faster depends on the CPU: on AMD Zen 4 and Zen 5 PyTorch's
    ``F.linear`` (MKL) runs float32 on a slow path and oneDNN wins; on AMD Zen 3
    MKL is 12-22 % faster on the codec's products of 500 rows. The two are timed
    side by side on a product of 256 rows by 1024 by 1024, alternately, best of
    five; oneDNN must be at least 5 % faster to be chosen (so that close calls go
    to the standard operator, which the official implementation uses). Products
    of fewer rows (streaming chunks, see ``linear.MEASURED_ROWS``) are bound by
    reading the weight, which oneDNN does faster on every CPU measured: they do
    not depend on this.

    Returns
    -------
    wins : bool

    Example
    -------
    >>> isinstance(onednn_wins_large_products(), bool)
    True
    """
    if torch.float32 not in ONEDNN_LINEAR:
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1024, generator=generator)
    weight = torch.randn(1024, 1024, generator=generator)
    bias = torch.zeros(1024)
    candidates = {
        "onednn": lambda: torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], ""),
        "standard": lambda: torch.nn.functional.linear(x, weight, bias),
    }
    best = dict.fromkeys(candidates, float("inf"))
    with torch.inference_mode():
        for round_ in range(7):
            for name, product in candidates.items():
                start = time.perf_counter()
                product()
                if round_ >= 2:  # two warm-up rounds
                    best[name] = min(best[name], time.perf_counter() - start)
    return best["onednn"] < 0.95 * best["standard"]


def tracing() -> bool:
    """Whether an exporter or compiler is tracing (they get the standard operators).

    Returns
    -------
    tracing : bool

    Example
    -------
    >>> tracing()
    False
    """
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def fast_kernels(device_type: str = "cpu") -> bool:
    """Whether the fast kernels may run now: enabled, not tracing, no autocast.

    Arguments
    ---------
    device_type : str
        Device type of the inputs (``"cpu"``, ``"cuda"``...), whose autocast
        state is checked.

    Returns
    -------
    enabled : bool

    Example
    -------
    >>> isinstance(fast_kernels(), bool)
    True
    >>> with use_fast_kernels(False):
    ...     fast_kernels()
    False
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     fast_kernels("cpu")
    False
    """
    return _enabled and not tracing() and not torch.is_autocast_enabled(device_type)


@contextmanager
def use_fast_kernels(enabled: bool) -> Iterator[None]:
    """Enables or disables the fast kernels inside a ``with`` block.

    With ``enabled=False`` every operator of ``ops/`` is the standard PyTorch
    one (``F.linear``, ``F.conv1d``, ``F.conv_transpose1d``).

    Arguments
    ---------
    enabled : bool
        Whether the fast kernels may run.

    Example
    -------
    >>> from speechbrain_focalcodec.ops.linear import linear
    >>> x, weight = torch.randn(3, 8), torch.randn(4, 8)
    >>> with use_fast_kernels(False):
    ...     y = linear(x, weight)
    >>> torch.equal(y, torch.nn.functional.linear(x, weight))
    True
    """
    global _enabled
    previous, _enabled = _enabled, bool(enabled)
    try:
        yield
    finally:
        _enabled = previous
