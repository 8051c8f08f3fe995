"""Recording the constructor arguments of the codec's components.

A trained codec is saved as ``config.json`` (the constructor arguments of its
five components) plus ``model.safetensors``; the decorator below lets every
component report the arguments it was built with, whether it came from a
HyperPyYAML file, a config file or plain Python.

Authors
 * speechbrain-focalcodec developers 2026
"""

import functools
import inspect
from typing import Any, Callable

__all__ = ["records_config"]


def records_config(init: Callable[..., None]) -> Callable[..., None]:
    """Decorates ``__init__`` so that the instance keeps its arguments in ``config``.

    Arguments
    ---------
    init : callable
        The ``__init__`` method to wrap.

    Returns
    -------
    wrapper : callable
        ``__init__`` that also sets ``self.config`` (a dict of every argument,
        defaults included).

    Example
    -------
    >>> class Layer(torch.nn.Module):
    ...     @records_config
    ...     def __init__(self, dim: int, causal: bool = False) -> None:
    ...         super().__init__()
    >>> Layer(4).config
    {'dim': 4, 'causal': False}
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(signature.parameters)))
        self.config = arguments

    return wrapper
