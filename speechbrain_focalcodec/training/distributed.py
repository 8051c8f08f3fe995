"""Distributed runs of the recipes: clean start, clean exit, no rank left waiting.

SpeechBrain's ``run_on_main`` runs a function on the main process and makes the
others wait at a barrier: if the function raises there, the other processes wait
for the process group's timeout (two hours) unless a launcher kills them. Here
``on_main`` broadcasts the outcome instead, so every process either gets the
result or raises: the error the user can fix, in one line, or, after an
unexpected exception on the main process (which keeps its traceback), a one-line
``MainProcessFailed`` on the others. ``init_distributed`` also destroys the process
group when the program exits (SpeechBrain never does).

Destroying the group is not enough to exit cleanly: once a
``DistributedDataParallel`` module has used a gloo group, its worker threads
outlive ``destroy_process_group``, and a worker that drops the last reference to
a tensor of a finished collective while the interpreter shuts down aborts the
process (``terminate called without an active exception``, exit status -6; seen
in about one run in twenty of the tiny recipes, more often with collectives
still queued). ``end_distributed`` ends such a process without shutting the
interpreter down: the recipes call it when they are done.

Authors
 * speechbrain-focalcodec developers 2026
"""

import atexit
import logging
import os
import sys
from typing import Any, Callable, Dict, Optional, Tuple, Type

import torch
from speechbrain.utils.distributed import ddp_broadcast, ddp_init_group, if_main_process

__all__ = [
    "MainProcessFailed",
    "destroy_distributed",
    "end_distributed",
    "init_distributed",
    "on_main",
]

logger = logging.getLogger(__name__)
# Whether ``init_distributed`` started a process group in this process.
_STARTED = {"group": False}


class MainProcessFailed(RuntimeError):
    """Raised on the other processes when the main process failed in ``on_main``."""


def destroy_distributed() -> None:
    """Destroys the default process group, if there is one (safe to call twice).

    Example
    -------
    >>> destroy_distributed()  # no process group: nothing to do
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def init_distributed(run_opts: Dict[str, Any]) -> None:
    """``ddp_init_group`` that also destroys the process group at exit.

    Call it where SpeechBrain recipes call ``sb.utils.distributed.ddp_init_group``.

    Arguments
    ---------
    run_opts : dict
        Run options from ``sb.parse_arguments``.

    Example
    -------
    >>> init_distributed({"distributed_backend": "gloo"})  # not launched by torchrun: no-op
    """
    ddp_init_group(run_opts)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        _STARTED["group"] = True
        atexit.register(destroy_distributed)


def end_distributed(status: int = 0) -> None:
    """Ends a process that ``init_distributed`` put in a process group.

    The group is destroyed, the exit handlers run (logging is flushed, temporary
    folders are removed) and the process exits with ``status`` without the
    interpreter's shutdown, during which the gloo worker threads may abort the
    process (see the module's docstring). Returns at once, doing nothing, in a
    process that started no group.

    Arguments
    ---------
    status : int
        Exit status.

    Example
    -------
    >>> end_distributed(0)  # no process group was started: nothing to do
    """
    if not _STARTED["group"]:
        return
    destroy_distributed()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(status)


def on_main(
    function: Callable[..., Any],
    user_errors: Tuple[Type[BaseException], ...] = (),
    error_class: Optional[Type[Exception]] = None,
    **kwargs: Any,
) -> Any:
    """Runs ``function(**kwargs)`` on the main process; every process gets its result.

    If the function raises one of ``user_errors``, every process raises
    ``error_class`` (default: the same class) with its message. If it raises anything
    else, the main process re-raises it (with its traceback) and the others raise
    ``MainProcessFailed``: no process is left waiting.

    Arguments
    ---------
    function : callable
        What to run once.
    user_errors : tuple of exception classes
        Errors the user can fix (reported in one line by the recipe).
    error_class : exception class, optional
        What the other processes raise for a user error (default: the error's class,
        built from its message).
    **kwargs : dict
        Arguments of ``function``.

    Returns
    -------
    result
        What ``function`` returned on the main process.

    Example
    -------
    >>> on_main(lambda x: x + 1, x=1)
    2
    >>> on_main(lambda x: int(x), user_errors=(ValueError,), x="one")
    Traceback (most recent call last):
    ...
    ValueError: invalid literal for int() with base 10: 'one'
    """
    result, failure, error = None, None, None
    if if_main_process():
        try:
            result = function(**kwargs)
        except user_errors as caught:
            failure, error = ("user", type(caught), str(caught)), caught
        except BaseException as caught:
            failure, error = ("other", type(caught).__name__, str(caught)), caught
    result, failure = ddp_broadcast((result, failure), src=0)
    if failure is None:
        return result
    if error is not None:  # the main process: its own exception, traceback included
        raise error
    kind, cls, message = failure
    if kind == "user":
        try:  # classes whose constructor takes more than a message fall back below
            rebuilt = (error_class or cls)(message)
        except Exception:
            rebuilt = (error_class or RuntimeError)(message)
        raise rebuilt
    raise MainProcessFailed(f"the main process failed ({cls}: {message})")
