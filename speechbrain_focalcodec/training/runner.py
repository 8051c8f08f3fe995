"""What every training recipe's ``train.py`` does around its Brain.

* ``run_recipe``: the entry point; ``--threads N`` sets PyTorch's intra- and
  inter-op threads, errors the user can fix end with one line (``error: ...``) and
  exit status 1, and the distributed process group is always destroyed;
* ``load_recipe_hparams``: the yaml and its command-line options, with one-line errors
  for a missing yaml, an option the yaml lacks or an option given twice;
* ``prepare_data``: the manifests of LibriTTS or of any folder of audio, on the main
  process (see ``distributed.on_main``);
* ``setup_frozen_encoder``: the frozen WavLM encoder's weights fetched (or drawn) on
  the main process and loaded on every process.

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
import re
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from speechbrain.utils.distributed import if_main_process

from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.files import OutputError
from speechbrain_focalcodec.machine import available_cpus
from speechbrain_focalcodec.training.distributed import (
    MainProcessFailed,
    destroy_distributed,
    end_distributed,
    on_main,
)
from speechbrain_focalcodec.training.encoder import (
    EncoderUnavailable,
    load_encoder,
    prepare_encoder,
)
from speechbrain_focalcodec.training.export import ExportError
from speechbrain_focalcodec.training.folder_prepare import prepare_folder
from speechbrain_focalcodec.training.libritts_prepare import prepare_libritts
from speechbrain_focalcodec.training.manifests import DataPreparationError
from speechbrain_focalcodec.training.stage_inputs import StageInputError

__all__ = [
    "USER_ERRORS",
    "RecipeError",
    "load_recipe_hparams",
    "main_only",
    "prepare_data",
    "run_recipe",
    "set_threads",
    "setup_frozen_encoder",
    "threads_option",
]

logger = logging.getLogger(__name__)


class RecipeError(RuntimeError):
    """A problem the user can fix (options, stages, data): reported in one line."""


# Errors reported as one line `error: ...` with exit status 1 (no traceback).
USER_ERRORS: Tuple[type, ...] = (
    DataPreparationError,
    EncoderUnavailable,
    ExportError,
    RecipeError,
    CheckpointError,
    OutputError,
    MainProcessFailed,
    StageInputError,
)


def load_recipe_hparams(argv: Sequence[str]) -> Tuple[str, Dict[str, Any], str, Dict[str, Any]]:
    """``sb.parse_arguments`` and ``load_hyperpyyaml``, with one-line errors.

    A missing yaml, a command-line option that is not a key of the yaml (SpeechBrain's
    ``KeyError`` listing every key) and an option given twice or with a value that is
    not YAML become a ``RecipeError``.

    Arguments
    ---------
    argv : sequence of str
        Command-line arguments (the yaml, then SpeechBrain's and the yaml's options).

    Returns
    -------
    hparams_file : str
    run_opts : dict
    overrides : str
        As ``sb.parse_arguments`` returns them.
    hparams : dict
        The loaded yaml.

    Example
    -------
    >>> yaml = getfixture("tmp_path") / "stage.yaml"
    >>> _ = yaml.write_text("lr: 0.1")
    >>> load_recipe_hparams([str(yaml), "--lr=0.5"])[3]
    {'lr': 0.5}
    >>> try:
    ...     load_recipe_hparams([str(yaml), "--epochs=3"])
    ... except RecipeError as error:
    ...     print(str(error).split(" in ")[0])
    --epochs: no such key
    """
    import speechbrain as sb
    from hyperpyyaml import load_hyperpyyaml
    from ruamel.yaml import YAMLError

    hparams_file, run_opts, overrides = sb.parse_arguments(list(argv))
    try:
        with open(hparams_file, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise RecipeError(f"Cannot read {hparams_file}: {error.strerror or error}") from None
    try:
        hparams = load_hyperpyyaml(text, overrides)
    except KeyError as error:
        found = re.match(r"Override '(.+?)' not found", str(error.args[0]) if error.args else "")
        if found is None:
            raise
        raise RecipeError(
            f"--{found.group(1)}: no such key in {hparams_file} (does this stage use it?)"
        ) from None
    except YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise RecipeError(f"Bad options for {hparams_file}: {problem}") from None
    return hparams_file, run_opts, overrides, hparams


def threads_option(argv: Sequence[str]) -> Tuple[List[str], Optional[int]]:
    """Takes ``--threads N`` (or ``--threads=N``) out of a command line.

    Arguments
    ---------
    argv : sequence of str
        Command-line arguments.

    Returns
    -------
    argv : list of str
        The others, for ``sb.parse_arguments``.
    threads : int or None
        The value, if given.

    Example
    -------
    >>> threads_option(["a.yaml", "--threads", "2", "--lr=1"])
    (['a.yaml', '--lr=1'], 2)
    >>> threads_option(["a.yaml", "--threads=x"])
    Traceback (most recent call last):
    ...
    speechbrain_focalcodec.training.runner.RecipeError: --threads takes a whole number, got 'x'
    """
    rest, value = [], None
    argv = list(argv)
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--threads":
            if index + 1 >= len(argv):
                raise RecipeError("--threads takes a whole number")
            value = argv[index + 1]
            index += 2
            continue
        if arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        index += 1
    if value is None:
        return rest, None
    try:
        return rest, int(value)
    except ValueError:
        raise RecipeError(f"--threads takes a whole number, got {value!r}") from None


def set_threads(threads: int) -> None:
    """Sets PyTorch's intra-op and inter-op CPU threads.

    Arguments
    ---------
    threads : int
        Between 1 and the number of available CPUs.

    Example
    -------
    >>> try:
    ...     set_threads(0)
    ... except RecipeError as error:
    ...     print(str(error).split(" and ")[0])
    --threads must be between 1
    """
    limit = available_cpus()
    if not 1 <= threads <= limit:
        raise RecipeError(
            f"--threads must be between 1 and {limit} (the CPUs available), got {threads}"
        )
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only settable before the first inter-op work
        logger.info("Inter-op threads already in use; only the intra-op threads were set")


def run_recipe(
    run: Callable[[List[str]], Any],
    argv: Sequence[str],
    user_errors: Tuple[type, ...] = (),
) -> int:
    """Runs a recipe's ``run(argv)``; returns the exit status.

    ``--threads N`` is handled here (see ``set_threads``). Errors in ``USER_ERRORS``
    (and ``user_errors``) are printed as one line ``error: ...`` (status 1); others
    keep their traceback. The distributed process group, if any, is destroyed, and a
    process launched by torchrun exits here (``end_distributed``).

    Arguments
    ---------
    run : callable
        Takes the command-line arguments (without ``--threads``).
    argv : sequence of str
        Command-line arguments.
    user_errors : tuple of exception classes
        More errors to report in one line.

    Returns
    -------
    status : int

    Example
    -------
    >>> def run(argv):
    ...     raise RecipeError(f"bad {argv}")
    >>> run_recipe(run, ["x", "--threads=1"])
    1
    """
    status = 0
    try:
        argv, threads = threads_option(argv)
        if threads is not None:
            set_threads(threads)
        run(argv)
    except USER_ERRORS + tuple(user_errors) as error:
        print(f"error: {error}", file=sys.stderr)
        status = 1
    finally:
        destroy_distributed()
    end_distributed(status)  # a torchrun worker exits here
    return status


def main_only(function: Callable[..., Any], **kwargs: Any) -> Any:
    """``on_main`` with the recipe's user errors (raised on every process).

    Arguments
    ---------
    function : callable
        What to run on the main process.
    **kwargs : dict
        Its arguments.

    Returns
    -------
    result
        Its result, on every process.

    Example
    -------
    >>> main_only(lambda a: a * 2, a=3)
    6
    """
    return on_main(function, user_errors=USER_ERRORS, **kwargs)


def prepare_data(hparams: Dict[str, Any]) -> None:
    """Writes the manifests of ``hparams["dataset"]`` (``libritts`` or ``folder``).

    Call it on the main process (``main_only(prepare_data, hparams=hparams)``).

    Arguments
    ---------
    hparams : dict
        ``dataset``, ``data_folder``, ``<split>_json``, ``sample_rate``,
        ``resample_folder``, ``skip_prep``; ``train_splits``, ``valid_splits``,
        ``test_splits`` (LibriTTS) or ``valid_ratio``, ``test_ratio``, ``seed``
        (folder); optionally ``prep_workers``.
    """
    common = {
        "data_folder": hparams["data_folder"],
        "train_json": hparams["train_json"],
        "valid_json": hparams["valid_json"],
        "test_json": hparams["test_json"],
        "sample_rate": hparams["sample_rate"],
        "resample_folder": hparams["resample_folder"],
        "skip_prep": hparams["skip_prep"],
        "num_workers": hparams.get("prep_workers", 4),
    }
    if hparams["dataset"] == "libritts":
        prepare_libritts(
            train_splits=hparams["train_splits"],
            valid_splits=hparams["valid_splits"],
            test_splits=hparams["test_splits"],
            **common,
        )
    elif hparams["dataset"] == "folder":
        prepare_folder(
            valid_ratio=hparams["valid_ratio"],
            test_ratio=hparams["test_ratio"],
            seed=hparams["seed"],
            **common,
        )
    else:
        raise DataPreparationError(
            f"`dataset` must be libritts or folder, got {hparams['dataset']}"
        )


def setup_frozen_encoder(hparams: Dict[str, Any], key: str = "encoder") -> Dict[str, Any]:
    """Gets the frozen encoder's weights on the main process and loads them everywhere.

    Arguments
    ---------
    hparams : dict
        ``<key>``, ``encoder_source``, ``encoder_folder``, ``random_encoder``,
        ``output_folder`` (where the main process records the encoder used).
    key : str
        Name of the encoder in ``hparams``.

    Returns
    -------
    record : dict
        See ``encoder.prepare_encoder``.
    """
    record = main_only(
        prepare_encoder,
        encoder=hparams[key],
        source=hparams["encoder_source"],
        encoder_folder=hparams["encoder_folder"],
        random_encoder=hparams["random_encoder"],
    )
    load_encoder(hparams[key], record, hparams["output_folder"] if if_main_process() else None)
    return record
