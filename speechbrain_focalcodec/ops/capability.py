"""The one switch in front of the fast kernels of ``ops/``.

The fast paths (oneDNN's linear primitive called through PyTorch's private
``torch.ops.mkldnn`` operators, window products and channels-last
convolutions of frames) compute the same function as the standard operators
(``torch.nn.functional.linear``, ``conv1d``, ``conv_transpose1d``). They run
only when:

* the private oneDNN operators exist and give the standard result on this
  build of PyTorch (probed once, at import; ``ONEDNN_LINEAR``, ``ONEDNN_CONV``);
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

import os
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["ONEDNN_CONV", "ONEDNN_LINEAR", "fast_kernels", "tracing", "use_fast_kernels"]


def _probe_onednn_linear() -> bool:
    """Whether oneDNN's private linear operators exist and compute ``F.linear``."""
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        x = torch.arange(6.0).view(2, 3)
        weight = torch.arange(12.0).view(4, 3) / 8.0
        bias = torch.arange(4.0)
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


ONEDNN_LINEAR = _probe_onednn_linear()
# The dtypes in which the convolutions of streams may keep reordered weights.
ONEDNN_CONV = frozenset(
    dtype for dtype in (torch.float32, torch.bfloat16) if _probe_onednn_conv(dtype)
)
_enabled = os.environ.get("FOCALCODEC_FAST_KERNELS", "1").strip() not in ("0", "false", "no")


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
