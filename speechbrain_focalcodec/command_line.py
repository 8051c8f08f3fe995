"""What every ``focalcodec`` subcommand shares: one option vocabulary, validated
numeric options, output checks, and one-line errors with exit statuses.

Vocabulary (every subcommand that has the concept spells it this way):
``--model`` (Hugging Face id or local directory), ``--output``, ``--device``
(default ``cpu``), ``--threads`` (1 to the number of CPU cores), ``--quiet`` (no
progress bar), ``--force`` (replace existing outputs), ``--debug`` (tracebacks).
Multi-word options use underscores (``--batch_size``, SpeechBrain's convention);
the dashed spellings and older names (``--codec``, ``--output_folder``,
``--no_progress``, ``--no-progress``) are accepted as hidden aliases.

Exit statuses: 0 success, 1 an error (one line on stderr), 2 a command-line
usage error (argparse's message), 130 interrupted.

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from speechbrain_focalcodec.machine import available_cpus

__all__ = [
    "PROG",
    "CommandError",
    "add_common_options",
    "add_option",
    "check_outputs",
    "expected",
    "non_negative_int",
    "non_negative_seconds",
    "parse",
    "positive_int",
    "positive_seconds",
    "report",
    "run_command",
    "thread_count",
    "usage_status",
]

PROG = "focalcodec"


class CommandError(Exception):
    """A command cannot be carried out (reported as one line)."""


# ------------------------------------------------------------ option types
def positive_int(text: str) -> int:
    """argparse type: an integer >= 1.

    Arguments
    ---------
    text : str
        The option's value.

    Returns
    -------
    value : int

    Example
    -------
    >>> positive_int("3")
    3
    >>> positive_int("0")
    Traceback (most recent call last):
        ...
    argparse.ArgumentTypeError: must be a whole number >= 1, got '0'
    """
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (see ``positive_int``)."""
    return _integer(text, 0)


def _integer(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0.

    Arguments
    ---------
    text : str
        The option's value.

    Returns
    -------
    value : float

    Example
    -------
    >>> positive_seconds("inf")
    Traceback (most recent call last):
        ...
    argparse.ArgumentTypeError: must be a finite number of seconds > 0, got 'inf'
    """
    return _seconds(text, strict=True)


def non_negative_seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0 (see ``positive_seconds``)."""
    return _seconds(text, strict=False)


def _seconds(text: str, strict: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (strict and value == 0):
        bound = "> 0" if strict else ">= 0"
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds {bound}, got {text!r}"
        )
    return value


def thread_count(text: str) -> int:
    """argparse type: CPU threads, from 1 to the CPUs this process may use
    (``machine.available_cpus``).

    Arguments
    ---------
    text : str
        The option's value.

    Returns
    -------
    value : int

    Example
    -------
    >>> thread_count("1")
    1
    >>> thread_count("100000")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    argparse.ArgumentTypeError: must be from 1 to ... (the CPUs this process may use), got '100000'
    """
    cores = available_cpus()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= cores:
        raise argparse.ArgumentTypeError(
            f"must be from 1 to {cores} (the CPUs this process may use), got {text!r}"
        )
    return value


# ------------------------------------------------------------------ options
def add_option(
    parser: argparse.ArgumentParser, name: str, *aliases: str, **kwargs
) -> argparse.Action:
    """Adds ``name`` and hidden ``aliases`` (plus its dashed spelling) to ``parser``.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The parser.
    name : str
        The documented spelling (``--batch_size``).
    *aliases : str
        Older spellings, accepted but not listed in ``--help``.
    **kwargs : dict
        ``add_argument`` keywords.

    Returns
    -------
    action : argparse.Action
        The documented option's action.

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_option(parser, "--batch_size", type=int, default=8)
    >>> parser.parse_args(["--batch-size", "3"]).batch_size
    3
    """
    hidden = [alias for alias in (name.replace("_", "-"), *aliases) if alias != name]
    required = bool(kwargs.pop("required", False)) and bool(hidden)
    if required:  # checked by ``parse``: argparse would not count an alias
        kwargs["help"] = kwargs.get("help", "") + " (required)"
    action = parser.add_argument(name, **kwargs)
    if required:
        listed = parser.get_default("_required") or []
        parser.set_defaults(_required=listed + [(name, action.dest)])
    if hidden:
        extra = {key: value for key, value in kwargs.items() if key not in ("help", "default")}
        parser.add_argument(
            *hidden, dest=action.dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **extra
        )
    return action


def add_common_options(
    parser: argparse.ArgumentParser,
    model: str = "required",
    force: bool = True,
    device: bool = True,
) -> None:
    """The options every subcommand shares.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    model : str
        ``"required"``, ``"optional"``, ``"append"`` (repeatable) or ``"none"``.
    force : bool
        Whether the command writes outputs (adds ``--force``).
    device : bool
        Whether the command runs models (adds ``--device`` and ``--threads``).
    """
    if model != "none":
        help_text = "Hugging Face id (e.g. lucadellalib/focalcodec_50hz) or local directory"
        if model == "append":
            help_text += "; repeat to compare models"
        add_option(
            parser,
            "--model",
            "--codec",
            action="append" if model == "append" else "store",
            required=model == "required",
            help=help_text,
        )
    if device:
        parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
        parser.add_argument(
            "--threads", type=thread_count, help="CPU threads (default: torch's choice)"
        )
    quiet = ("--quiet", "--no_progress", "--no-progress")
    add_option(parser, *quiet, action="store_true", help="no progress bar")
    if force:
        parser.add_argument("--force", action="store_true", help="replace existing outputs")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parses ``argv``; a missing required option (or its aliases) is a usage error.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The parser (built with ``add_common_options``).
    argv : sequence of str
        Arguments.

    Returns
    -------
    args : argparse.Namespace
    """
    args = parser.parse_args(argv)
    missing = [name for name, dest in getattr(args, "_required", []) if not getattr(args, dest)]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    return args


# ------------------------------------------------------------------ outputs
def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(pairs: Sequence[Tuple[Path, Path]], force: bool) -> List[Tuple[Path, Path]]:
    """Checks (input, output) pairs before anything is written.

    An input given twice is processed once. Refused, with one line: an output
    that is one of the inputs (even with ``--force``), two inputs that would
    write the same output (``a.wav`` and ``a.mp3``, or one name in two
    folders), and existing outputs unless ``force``.

    Arguments
    ---------
    pairs : sequence of (Path, Path)
        Inputs and their outputs.
    force : bool
        Whether existing outputs may be replaced.

    Returns
    -------
    pairs : list of (Path, Path)
        Without repeated inputs.

    Example
    -------
    >>> try:
    ...     check_outputs([(Path("a.wav"), Path("a.wav"))], force=True)
    ... except CommandError as error:
    ...     print(error)
    output a.wav is also an input: refusing to overwrite it
    """
    unique: Dict[Path, Tuple[Path, Path]] = {}
    for source, target in pairs:
        unique.setdefault(Path(source).resolve(), (Path(source), Path(target)))
    pairs = list(unique.values())
    sources = [source for source, _ in pairs]
    writers: Dict[Path, Path] = {}
    for source, target in pairs:
        if any(_same(target, other) for other in sources):
            raise CommandError(f"output {target} is also an input: refusing to overwrite it")
        key = target.resolve()
        if key in writers:
            raise CommandError(
                f"{writers[key]} and {source} would both be written to {target}: "
                "rename one of them, or give them separate output folders"
            )
        writers[key] = source
    existing = [target for _, target in pairs if target.exists()]
    if existing and not force:
        others = f" (and {len(existing) - 1} more outputs)" if len(existing) > 1 else ""
        raise CommandError(f"{existing[0]} exists{others}: pass --force to replace it")
    return pairs


# ------------------------------------------------------------------- errors
def report(message: object, prog: str = PROG) -> None:
    """Prints ``prog: error: message`` on one line of stderr.

    Arguments
    ---------
    message : object
        The error (its text is joined into one line).
    prog : str
        Command name.
    """
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)


def expected(error: BaseException) -> bool:
    """Errors caused by the inputs or the environment, reported in one line.

    Arguments
    ---------
    error : BaseException
        The error.

    Returns
    -------
    expected : bool
    """
    return isinstance(error, (CommandError, ValueError, TypeError, OSError, RuntimeError))


def run_command(
    work: Callable[[argparse.Namespace], int], args: argparse.Namespace, prog: str = PROG
) -> int:
    """Runs ``work(args)``: errors become one line and status 1 (``--debug``:
    the traceback), Ctrl-C status 130.

    Arguments
    ---------
    work : callable
        The command.
    args : argparse.Namespace
        Its parsed options (``debug``, ``threads``).
    prog : str
        Command name for messages.

    Returns
    -------
    status : int
    """
    import torch

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return work(args)
    except KeyboardInterrupt:
        report("interrupted", prog)
        return 130
    except Exception as error:
        if getattr(args, "debug", False):
            raise
        if not expected(error):
            error = f"unexpected {type(error).__name__}: {error} (rerun with --debug)"
        report(error, prog)
        return 1


def usage_status(parse_args: Callable[[], argparse.Namespace]) -> Tuple[Optional[int], object]:
    """Runs an argparse parse, turning its exit into a status.

    Arguments
    ---------
    parse_args : callable
        Parses the command line (may exit: ``--help``, usage errors).

    Returns
    -------
    status : int or None
        argparse's exit status, or None when parsing succeeded.
    args : argparse.Namespace or None
    """
    try:
        return None, parse_args()
    except SystemExit as exit_:
        return int(exit_.code or 0), None
