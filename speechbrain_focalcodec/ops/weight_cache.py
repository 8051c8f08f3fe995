"""Tensors derived from a weight (another layout, a backend's reordering),
kept alongside it for inference while the weight lives unchanged.

Streaming multiplies every weight with a few frames per chunk, so re-deriving
its layout on each call would cost as much as the product itself. Entries are
keyed by the weight's base tensor (a parameter or the tensor a view comes
from), dropped when that tensor is freed, and recomputed after any in-place
update (its version counter changes).

Authors
 * speechbrain-focalcodec developers 2026
"""

import weakref
from typing import Callable, Dict, Hashable, Optional, Tuple

import torch
from torch import Tensor

__all__ = ["derived_weight"]

# id of a base tensor -> (weak reference to it, {(kind, view): (signature, derived tensor)}).
_DERIVED: Dict[int, Tuple[Callable[[], Optional[Tensor]], Dict[Tuple, Tuple[Tuple, Tensor]]]] = {}


def derived_weight(
    weight: Tensor, kind: Hashable, make: Callable[[Tensor], Tensor], detail: Tuple = ()
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

    Example
    -------
    >>> weight = torch.nn.Parameter(torch.randn(3, 4))
    >>> first = derived_weight(weight, "transposed", lambda w: w.t().contiguous())
    >>> first is derived_weight(weight, "transposed", lambda w: w.t().contiguous())
    True
    >>> with torch.no_grad():
    ...     _ = weight.mul_(2.0)
    >>> again = derived_weight(weight, "transposed", lambda w: w.t().contiguous())
    >>> bool(torch.equal(again, 2.0 * first))
    True
    """
    owner = weight if weight._base is None else weight._base
    key = id(owner)
    entry = _DERIVED.get(key)
    if entry is None or entry[0]() is not owner:
        entry = (weakref.ref(owner, lambda _: _DERIVED.pop(key, None)), {})
        _DERIVED[key] = entry
    view = (kind, tuple(weight.shape), weight.stride(), weight.storage_offset())
    signature = (owner._version, owner.data_ptr(), weight.dtype, weight.device, *detail)
    cached = entry[1].get(view)
    if cached is not None and cached[0] == signature:
        return cached[1]
    with torch.inference_mode(False), torch.no_grad():
        derived = make(weight.detach())
    entry[1][view] = (signature, derived)
    return derived
