"""Tensors derived from weights (a backend's reordering, another layout), kept
explicitly by an owner for the products of a stream.

Streaming multiplies every weight with a few frames per chunk, so re-deriving
its layout on each call would cost as much as the product itself. Keeping a
derived copy is only correct while the weight is unchanged, and PyTorch gives
no cheap way to know that: edits through ``.data`` (weight averaging, EMA,
pruning, ``torch.nn.utils.vector_to_parameters``) bump no version counter, and
reading the whole weight to check it costs as much as the product that the
copy saves. So nothing is kept implicitly:

* outside a ``kept_weights(store)`` block (the default: training, offline
  inference, exports), derived tensors are recomputed on every call, and
  every change of the weights, in any way, is seen;
* inside one, the ``WeightStore`` (owned by, e.g., a stream object; dropped
  with it or by ``store.clear()``; never part of a ``state_dict``) keeps one
  derived tensor per weight and kind. It is rebuilt when the weight's tensor,
  storage, version counter (in-place updates under ``torch.no_grad``,
  ``load_state_dict``), dtype or device change (``.to()``, ``.data = ...``),
  but *not* after an in-place edit through ``.data``: the owner holds the
  weights frozen, and calls ``store.clear()`` after editing them that way.

Authors
 * speechbrain-focalcodec developers 2026
"""

import contextvars
import weakref
from contextlib import contextmanager
from typing import Callable, Dict, Hashable, Iterator, Optional, Tuple

import torch
from torch import Tensor

__all__ = ["WeightStore", "active_store", "kept_weights", "store_for"]

_ACTIVE: contextvars.ContextVar[Optional["WeightStore"]] = contextvars.ContextVar(
    "focalcodec_weight_store", default=None
)


class WeightStore:
    """Derived tensors of weights, kept while the weights are unchanged.

    Example
    -------
    >>> store = WeightStore()
    >>> weight = torch.nn.Parameter(torch.randn(3, 4))
    >>> first = store.get(weight, "transposed", lambda w: w.t().contiguous())
    >>> first is store.get(weight, "transposed", lambda w: w.t().contiguous())
    True
    >>> with torch.no_grad():
    ...     _ = weight.mul_(2.0)
    >>> again = store.get(weight, "transposed", lambda w: w.t().contiguous())
    >>> bool(torch.equal(again, 2.0 * first)), len(store)
    (True, 1)
    >>> store.clear()
    >>> len(store)
    0
    """

    def __init__(self) -> None:
        # id of a base tensor -> (weak reference to it, {view: (signature, source, derived)}).
        self._entries: Dict[int, Tuple[Callable[[], Optional[Tensor]], Dict]] = {}

    def __len__(self) -> int:
        return sum(len(views) for _, views in self._entries.values())

    def clear(self) -> None:
        """Drops every kept tensor (e.g. after editing weights through ``.data``)."""
        self._entries.clear()

    def get(
        self,
        weight: Tensor,
        kind: Hashable,
        make: Callable[[Tensor], Tensor],
        detail: Tuple = (),
    ) -> Tensor:
        """``make(weight)``, computed once and kept while ``weight`` is unchanged.

        Arguments
        ---------
        weight : torch.Tensor
            A weight (not an inference tensor), or a view of one.
        kind : hashable
            What is derived; one tensor is kept per kind and view of the weight.
        make : callable
            Computes the derived tensor from the (detached) weight.
        detail : tuple
            Further values the derived tensor depends on; a change replaces it.

        Returns
        -------
        derived : torch.Tensor
        """
        owner = weight if weight._base is None else weight._base
        key = id(owner)
        entry = self._entries.get(key)
        if entry is None or entry[0]() is not owner:
            entries = self._entries
            entry = (weakref.ref(owner, lambda _: entries.pop(key, None)), {})
            entries[key] = entry
        view = (kind, tuple(weight.shape), weight.stride(), weight.storage_offset())
        signature = (owner._version, owner.data_ptr(), weight.dtype, weight.device, *detail)
        cached = entry[1].get(view)
        if cached is not None and cached[0] == signature:
            return cached[2]
        with torch.inference_mode(False), torch.no_grad():
            source = weight.detach()
            derived = make(source)
        # The source is held so that its memory cannot be reused by new
        # weights at the same address while the entry lives.
        entry[1][view] = (signature, source, derived)
        return derived


def active_store() -> Optional[WeightStore]:
    """The store of the enclosing ``kept_weights`` block, None outside any.

    Returns
    -------
    store : WeightStore or None

    Example
    -------
    >>> active_store() is None
    True
    """
    return _ACTIVE.get()


def store_for(weight: Tensor) -> Optional[WeightStore]:
    """The active store if a tensor derived from ``weight`` may be kept in it: the
    weight is a parameter (or a view of one) and not an inference tensor.

    Arguments
    ---------
    weight : torch.Tensor
        A weight.

    Returns
    -------
    store : WeightStore or None

    Example
    -------
    >>> weight = torch.nn.Parameter(torch.randn(3, 4))
    >>> with kept_weights(WeightStore()) as store:
    ...     store_for(weight) is store, store_for(torch.randn(3, 4))
    (True, None)
    """
    store = _ACTIVE.get()
    owner = weight if weight._base is None else weight._base
    if store is None or not isinstance(owner, torch.nn.Parameter) or owner.is_inference():
        return None
    return store


@contextmanager
def kept_weights(store: WeightStore) -> Iterator[WeightStore]:
    """Inside the block, the operators of ``ops/`` keep derived weights in ``store``.

    Arguments
    ---------
    store : WeightStore
        Owned by the caller (e.g. a stream), which keeps its weights frozen
        while it uses the store (see the module docstring).

    Example
    -------
    >>> from speechbrain_focalcodec.ops.linear import linear
    >>> layer, store = torch.nn.Linear(8, 4), WeightStore()
    >>> with torch.inference_mode(), kept_weights(store):
    ...     y = linear(torch.randn(2, 8), layer.weight, layer.bias)
    >>> y.shape
    torch.Size([2, 4])
    """
    token = _ACTIVE.set(store)
    try:
        yield store
    finally:
        _ACTIVE.reset(token)
