"""Convolutions of channels-last frames (``[batch, time, channels]``).

The lobes keep their frames channels-last, the layout of linear layers and
layer normalization. These helpers apply the weights of a ``torch.nn.Conv1d``
to such frames without transposing them to channels-first and back: oneDNN
runs the convolution in the channels-last memory format as a 2-D convolution
of height 1, which is also several times faster for depth-wise and strided
convolutions on CPU. Results equal ``conv1d`` on the transposed input to
float32 rounding.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Callable, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.ops.capability import ONEDNN_CONV, fast_kernels, tracing
from speechbrain_focalcodec.ops.linear import linear
from speechbrain_focalcodec.ops.weight_cache import WeightStore, store_for

__all__ = ["conv_frames", "strided_conv", "transposed_conv"]

# Inputs with at most this many output frames (streaming chunks) are computed
# as a matrix product: faster than a convolution primitive at that size.
SHORT = 512
# Stride-1 convolutions whose windows hold at most this many values (short
# inputs, e.g. streaming chunks) are computed from the windows; longer inputs
# (offline) use the convolution primitive, whose weight reordering is then
# small next to the convolution itself.
WINDOWS_BUDGET = 2**22
# Depth-wise convolutions: windows of at most this many values are multiplied
# and summed directly; longer ones (long inputs, or the long causal windows of
# focal modulation even for the few frames of a streaming chunk) go to the
# primitive, whose vectorized loop reads every window once instead of
# materializing its products (several times faster for both).
SMALL_WINDOWS = 2**16


def _exporting() -> bool:
    """Whether an exporter or compiler is tracing (see ``capability.tracing``)."""
    return tracing()


def _standard(x: Tensor, conv: Callable[[Tensor], Tensor], weight: Tensor) -> Tensor:
    """``conv`` (a standard ``torch.nn.functional`` convolution of channels-first
    frames) applied to channels-last frames, with ``nn.Conv1d``'s dtypes: under
    autocast those of autocast, else computed in the precision of ``weight``
    and returned in that of ``x``."""
    if torch.is_autocast_enabled(x.device.type):
        return conv(x.transpose(1, 2)).transpose(1, 2).contiguous()
    y = conv(x.to(weight.dtype).transpose(1, 2))
    return y.transpose(1, 2).contiguous().to(x.dtype)


def _same_padding(padding: Union[str, int, Tuple[int, ...]], span: int) -> Tuple[int, int]:
    """A ``Conv1d`` padding as zeros on the (left, right) of a kernel spanning ``span`` frames.

    ``"same"`` puts the extra frame of an even span on the right, as
    ``torch.nn.functional.conv1d`` does.
    """
    if padding == "same":
        left = (span - 1) // 2
        return left, span - 1 - left
    if padding == "valid":
        return 0, 0
    if isinstance(padding, str):
        raise ValueError(f"`padding` must be 'same', 'valid' or zeros per side, got {padding!r}")
    size = padding if isinstance(padding, int) else padding[0]
    return size, size


def conv_frames(
    x: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    padding: Union[str, int, Tuple[int, ...]] = 0,
    groups: int = 1,
    dilation: int = 1,
) -> Tensor:
    """Stride-1 convolution (e.g. depth-wise) of channels-last frames.

    Arguments
    ---------
    x : torch.Tensor
        Input, shape ``[batch, time, input_dim]``.
    weight : torch.Tensor
        Kernel of a ``Conv1d``, shape ``[output_dim, input_dim / groups, kernel_size]``.
    bias : torch.Tensor, optional
        Shape ``[output_dim]``.
    padding : str, int or tuple
        The ``Conv1d``'s padding: ``"same"`` (the extra zero of an even kernel
        on the right, as ``Conv1d``), ``"valid"`` or zeros on each side.
    groups : int
        Convolution groups.
    dilation : int
        Spacing between kernel taps.

    Returns
    -------
    y : torch.Tensor
        Shape ``[batch, time', output_dim]``, contiguous, computed in the
        precision of ``weight`` and returned in that of ``x``.

    Example
    -------
    >>> conv = torch.nn.Conv1d(8, 8, 6, padding="same", groups=8)
    >>> x = torch.randn(2, 20, 8)
    >>> y = conv_frames(x, conv.weight, conv.bias, conv.padding, conv.groups)
    >>> y.shape
    torch.Size([2, 20, 8])
    >>> bool(torch.allclose(y, conv(x.transpose(1, 2)).transpose(1, 2), atol=1e-6))
    True
    """
    kernel_size = weight.shape[-1]
    span = dilation * (kernel_size - 1) + 1
    padding = _same_padding(padding, span)
    if not fast_kernels(x.device.type):
        if padding[0] != padding[1]:
            x = nn.functional.pad(x, [0, 0, padding[0], padding[1]])
        return _standard(
            x,
            lambda h: nn.functional.conv1d(
                h,
                weight,
                bias,
                padding=padding[1] if padding[0] == padding[1] else 0,
                dilation=dilation,
                groups=groups,
            ),
            weight,
        )
    if kernel_size == 1 and groups == 1 and padding == (0, 0):
        return linear(x, weight.flatten(1), bias)
    if groups > 1:
        # With a kept reordered weight (streaming), the primitive is the
        # fastest for grouped and depth-wise kernels at any length.
        y = _primitive(x, weight, bias, padding, groups, dilation, kept_only=True)
        if y is not None:
            return y
    num_windows = x.shape[1] + sum(padding) - span + 1
    depthwise = groups == x.shape[2] == weight.shape[0]
    windows = num_windows * kernel_size * x.shape[2]
    taps = dilation == 1  # windows of consecutive frames (dilated: the primitive)
    budget = SMALL_WINDOWS if depthwise else WINDOWS_BUDGET
    if windows <= budget and taps:
        return _grouped_windows_product(x, weight, bias, padding, groups)
    return _primitive(x, weight, bias, padding, groups, dilation)


def _primitive(
    x: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    padding: Tuple[int, int],
    groups: int,
    dilation: int,
    kept_only: bool = False,
) -> Optional[Tensor]:
    """The convolution primitive on channels-last frames (a 2-D convolution of
    height 1). Inside a ``kept_weights`` block, for inference, the weight
    reordered by oneDNN for the input's shape is kept in the block's store
    (streaming chunks: reordering it on every call costs more than the
    convolution). With ``kept_only``, None when no weight can be kept."""
    store = _conv_store(x, weight)
    if store is None and kept_only:
        return None
    dtype = x.dtype
    frames = x.to(weight.dtype).transpose(1, 2).unsqueeze(2)  # [batch, channels, 1, time]
    if padding[0] != padding[1]:
        frames = nn.functional.pad(frames, list(padding))
        padding = (0, 0)
    args = ([0, padding[0]], [1, 1], [1, dilation], groups)
    bias = None if bias is None else bias.to(weight.dtype)
    if store is None:
        y = nn.functional.conv2d(frames, weight.unsqueeze(2), bias, 1, *args[0::2], groups)
    else:
        packed = _packed_conv_weight(store, frames, weight, args)
        frames = frames.contiguous(memory_format=torch.channels_last)
        y = torch.ops.mkldnn._convolution_pointwise(frames, packed, bias, *args, "none", [], "")
    return y.squeeze(2).transpose(1, 2).contiguous().to(dtype)


def _conv_store(x: Tensor, weight: Tensor) -> Optional[WeightStore]:
    """The active store when the reordered weight of a convolution of ``x`` can be
    kept in it (inference on CPU, with a parameter's weight); else None."""
    store = store_for(weight)
    if store is None or weight.device.type != "cpu" or weight.dtype not in ONEDNN_CONV:
        return None
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return None
    return store


ConvArgs = Tuple[List[int], List[int], List[int], int]  # padding, stride, dilation, groups


def _packed_conv_weight(
    store: WeightStore, frames: Tensor, weight: Tensor, args: ConvArgs
) -> Tensor:
    """The weight reordered by oneDNN (an opaque oneDNN tensor) for channels-last
    frames of the shape of ``frames`` (``[batch, channels, 1, time]``), kept in ``store``."""
    padding, stride, dilation, groups = args
    input_size = list(frames.shape)

    def reorder(w: Tensor) -> Tensor:
        w = w.unsqueeze(2).contiguous(memory_format=torch.channels_last).to_mkldnn()
        return torch._C._nn.mkldnn_reorder_conv2d_weight(
            w, padding, stride, dilation, groups, input_size
        )

    detail = (tuple(input_size), tuple(padding), tuple(dilation))
    return store.get(weight, "onednn_conv", reorder, detail=detail)


def _grouped_windows_product(
    x: Tensor, weight: Tensor, bias: Optional[Tensor], padding: Tuple[int, int], groups: int
) -> Tensor:
    """Short convolutions as products of the windows with the kernel, group by group
    (no convolution primitive: its weight reordering dominates at that size)."""
    dtype = x.dtype
    x = x.to(weight.dtype)
    if padding != (0, 0):
        x = nn.functional.pad(x, [0, 0, padding[0], padding[1]])
    batch, _, channels = x.shape
    output_dim, group_dim, kernel_size = weight.shape
    windows = x.unfold(1, kernel_size, 1)  # [batch, frames, channels, kernel]
    if groups == channels == output_dim:  # depth-wise
        y = (windows * weight[:, 0]).sum(dim=-1)
        return (y if bias is None else y + bias).to(dtype)
    if groups == 1:  # windows ordered as the kernel: no copy of the kernel
        windows = windows.reshape(batch, -1, channels * kernel_size)
        return linear(windows, weight.reshape(output_dim, -1), bias).to(dtype)
    windows = windows.reshape(batch, -1, groups, group_dim, kernel_size)
    kernel = weight.view(groups, output_dim // groups, group_dim, kernel_size)
    y = torch.einsum("btgck,gock->btgo", windows, kernel).reshape(batch, -1, output_dim)
    return (y if bias is None else y + bias).to(dtype)


def strided_conv(x: Tensor, weight: Tensor, stride: int, bias: Optional[Tensor] = None) -> Tensor:
    """Convolution without padding of channels-last frames, with a stride.

    Kernels no longer than the stride (non-overlapping windows) and short
    inputs (streaming chunks) are computed as one matrix product of the
    windows with the kernel; other inputs as a channels-last 2-D convolution.

    Arguments
    ---------
    x : torch.Tensor
        Input, shape ``[batch, time, input_dim]``.
    weight : torch.Tensor
        Kernel, shape ``[output_dim, input_dim, kernel_size]``.
    stride : int
        Stride.
    bias : torch.Tensor, optional
        Shape ``[output_dim]``.

    Returns
    -------
    y : torch.Tensor
        Shape ``[batch, (time - kernel_size) // stride + 1, output_dim]``,
        contiguous, computed in the precision of ``weight`` and returned in
        that of ``x``.

    Example
    -------
    >>> x, weight = torch.randn(2, 50, 8), torch.randn(4, 8, 3)
    >>> y = strided_conv(x, weight, stride=2)
    >>> expected = torch.nn.functional.conv1d(x.transpose(1, 2), weight, stride=2)
    >>> y.shape, bool(torch.allclose(y, expected.transpose(1, 2), atol=1e-5))
    (torch.Size([2, 24, 4]), True)
    """
    if not fast_kernels(x.device.type):
        return _standard(x, lambda h: nn.functional.conv1d(h, weight, bias, stride=stride), weight)
    batch, time, input_dim = x.shape
    output_dim, _, kernel_size = weight.shape
    num_windows = (time - kernel_size) // stride + 1
    windowed = kernel_size <= stride or num_windows <= SHORT or input_dim == 1
    if windowed:
        windows = x.unfold(1, kernel_size, stride)  # [batch, windows, channels, kernel]
        if batch * num_windows < output_dim:
            # Few windows (streaming chunks): copy them in the kernel's layout
            # rather than the (larger) kernel.
            windows = windows.reshape(batch, num_windows, input_dim * kernel_size)
            return linear(windows, weight.reshape(output_dim, -1), bias)
        # [batch, windows, kernel, channels]: a view when windows do not overlap.
        windows = windows.transpose(-1, -2).reshape(batch, num_windows, -1)
        return linear(windows, weight.transpose(1, 2).reshape(output_dim, -1), bias)
    weight = weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    frames = x.to(weight.dtype).transpose(1, 2).unsqueeze(2)
    bias = None if bias is None else bias.to(weight.dtype)
    y = nn.functional.conv2d(frames, weight, bias, stride=(1, stride))
    return y.squeeze(2).transpose(1, 2).contiguous().to(x.dtype)


def transposed_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """Transposed convolution of channels-last frames whose kernel equals its stride.

    Every input frame gives its own ``kernel_size`` output frames: one matrix
    product.

    Arguments
    ---------
    x : torch.Tensor
        Input, shape ``[batch, time, input_dim]``.
    weight : torch.Tensor
        Kernel of a ``ConvTranspose1d``, shape ``[input_dim, output_dim, kernel_size]``.
    bias : torch.Tensor, optional
        Shape ``[output_dim]``.

    Returns
    -------
    y : torch.Tensor
        Shape ``[batch, time * kernel_size, output_dim]``.

    Example
    -------
    >>> conv = torch.nn.ConvTranspose1d(8, 4, kernel_size=2, stride=2)
    >>> x = torch.randn(2, 5, 8)
    >>> y = transposed_conv(x, conv.weight, conv.bias)
    >>> bool(torch.allclose(y, conv(x.transpose(1, 2)).transpose(1, 2), atol=1e-6))
    True
    """
    if not fast_kernels(x.device.type):
        return _standard(
            x,
            lambda h: nn.functional.conv_transpose1d(h, weight, bias, stride=weight.shape[-1]),
            weight,
        )
    batch, time, _ = x.shape
    _, output_dim, kernel_size = weight.shape
    frames = linear(x, weight.permute(2, 1, 0).reshape(kernel_size * output_dim, -1))
    frames = frames.view(batch, time * kernel_size, output_dim)
    return frames if bias is None else frames + bias.to(frames.dtype)
