"""Left context of causal convolutions, shared by offline and chunk-by-chunk passes.

Every causal block computes its output with one function (its ``step``) that
takes the left context of each causal convolution explicitly and returns the
context for what follows. Offline (a whole sequence, or the first chunk of a
stream) the context is the sequence's own first frame repeated (or zeros),
which is what ``left_context`` builds when no context is given; the offline
``forward`` of a causal block is its ``step`` from that start.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.history import History

__all__ = ["CausalConvolution", "Context", "Fresh", "left_context", "take_contexts"]

# Which streams start with the current chunk: one value for all of them
# (known on the host, no device read), or a ``[batch]`` bool tensor.
Fresh = Union[bool, Tensor]
# A left context: the frames themselves, or a ``History`` updated in place.
Context = Union[Tensor, History]


def left_context(
    x: Tensor,
    pad: int,
    mode: str = "replicate",
    context: Optional[Context] = None,
    fresh: Fresh = False,
) -> Tuple[Tensor, Context]:
    """Prepends the left context of a causal convolution to channels-last frames.

    Arguments
    ---------
    x : torch.Tensor
        Frames, shape ``[batch, time, channels]``.
    pad : int
        Frames of left context (kernel size - 1).
    mode : str
        Start of a sequence: ``"replicate"`` (copies of its first frame) or
        ``"constant"`` (zeros).
    context : torch.Tensor or History, optional
        The last ``pad`` frames seen before ``x``, ``[batch, pad, channels]``;
        None at the start of a sequence. A ``History`` (see ``history.py``)
        takes ``x`` in place.
    fresh : bool or torch.Tensor
        With ``context``: True (or True items of a ``[batch]`` bool tensor)
        for streams that start with ``x``, whose context is ignored.

    Returns
    -------
    padded : torch.Tensor
        Shape ``[batch, pad + time, channels]``.
    context : torch.Tensor or History
        The context of the frames that follow ``x`` (a view of ``padded``),
        or the given ``History``, advanced.

    Example
    -------
    >>> x = torch.tensor([[[1.0], [2.0]]])
    >>> left_context(x, 3)[0][..., 0]
    tensor([[1., 1., 1., 1., 2.]])
    >>> padded, context = left_context(x, 3, context=torch.full((1, 3, 1), 7.0))
    >>> padded[..., 0], context[..., 0]
    (tensor([[7., 7., 7., 1., 2.]]), tensor([[7., 1., 2.]]))
    >>> left_context(x, 1, context=torch.full((1, 1, 1), 7.0), fresh=torch.tensor([True]))[0]
    tensor([[[1.],
             [1.],
             [2.]]])
    """
    if mode not in ("replicate", "constant"):
        raise ValueError(f"`mode` must be 'replicate' or 'constant', got {mode!r}")
    if pad == 0:
        return x, x[:, x.shape[1] :]
    if isinstance(context, History) and context.size != pad:
        raise ValueError(f"a History of {context.size} frames given for a context of {pad}")
    if context is None:  # the start of a sequence
        fresh = True
    if not isinstance(fresh, bool) or fresh:
        if mode == "replicate":
            start = x[:, :1].expand(-1, pad, -1)
        else:
            start = x.new_zeros(x.shape[0], pad, x.shape[2])
        if isinstance(context, History):
            context.replace(start, None if isinstance(fresh, bool) else fresh)
        elif isinstance(fresh, bool) or context is None:
            context = start
        else:
            context = torch.where(fresh[:, None, None], start, context)
    if isinstance(context, History):
        return context.extend(x), context
    padded = torch.cat([context, x], dim=1)
    return padded, padded[:, padded.shape[1] - pad :]


def take_contexts(contexts: Optional[List[Context]], count: int) -> List[Optional[Context]]:
    """The first ``count`` contexts, or as many Nones at the start of a sequence.

    Arguments
    ---------
    contexts : list of torch.Tensor or History, optional
        Contexts in the order a block uses them.
    count : int
        Number of contexts the block needs.

    Returns
    -------
    contexts : list
        ``count`` contexts (or Nones).

    Example
    -------
    >>> take_contexts(None, 2)
    [None, None]
    """
    if contexts is None:
        return [None] * count
    if len(contexts) != count:
        raise ValueError(f"expected {count} left contexts, got {len(contexts)}")
    return list(contexts)


class CausalConvolution(nn.Module):
    """Base of the layers made of one strided convolution (plus what follows it) that are
    causal when built so: their ``step`` prepends the left context (the first frame
    repeated at the start) and convolves; a subclass defines ``_convolve`` (channels-last
    frames in, out) and sets ``kernel_size``, ``causal`` and ``context_channels``.

    Example
    -------
    >>> class Mean(CausalConvolution):
    ...     kernel_size, causal, context_channels = 2, True, 1
    ...     def _convolve(self, x):
    ...         return (x[:, 1:] + x[:, :-1]) / 2
    >>> x = torch.tensor([[[2.0], [4.0], [6.0]]])
    >>> y, contexts = Mean().step(x)
    >>> y[..., 0], contexts[0][..., 0]
    (tensor([[2., 3., 5.]]), tensor([[6.]]))
    """

    kernel_size: int
    causal: bool
    context_channels: int

    def context_shapes(self) -> List[Tuple[int, int]]:
        """``(frames, channels)`` of the left context of a causal layer."""
        pad = self.kernel_size - 1
        return [(pad, self.context_channels)] if self.causal and pad else []

    def step(
        self, x: Tensor, contexts: Optional[List[Context]] = None, fresh: Fresh = False
    ) -> Tuple[Tensor, List[Context]]:
        """Applies the causal layer to the frames after the given left context.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, input_dim]``.
        contexts : list of torch.Tensor or History, optional
            The left context of the convolution; None at the start.
        fresh : bool or torch.Tensor
            Streams that start with ``x`` (see ``left_context``).

        Returns
        -------
        y : torch.Tensor
            Shape ``[batch, time', output_dim]``.
        contexts : list of torch.Tensor or History
            Left context for the frames that follow.
        """
        pad = self.kernel_size - 1
        if pad == 0:
            return self._convolve(x), []
        (context,) = take_contexts(contexts, 1)
        x, context = left_context(x, pad, "replicate", context, fresh)
        return self._convolve(x), [context]

    def _convolve(self, x: Tensor) -> Tensor:
        raise NotImplementedError
