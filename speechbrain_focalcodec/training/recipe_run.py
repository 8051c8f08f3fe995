"""Steps every training recipe's ``train.py`` runs the same way.

Data preparation (LibriTTS or any folder of audio), run on the main process
only, and the one-line reporting of the errors a user can fix: under DDP
such an error is raised on every process (rather than leaving the others
waiting at a barrier) and ``main`` turns it into one line and exit status 1.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Any, Callable, Dict

from speechbrain.utils.distributed import ddp_broadcast, if_main_process

from speechbrain_focalcodec.training.encoder import EncoderUnavailable
from speechbrain_focalcodec.training.export import ExportError
from speechbrain_focalcodec.training.folder_prepare import prepare_folder
from speechbrain_focalcodec.training.libritts_prepare import prepare_libritts
from speechbrain_focalcodec.training.manifests import DataPreparationError
from speechbrain_focalcodec.training.stage_inputs import StageInputError

__all__ = ["USER_ERRORS", "RecipeError", "on_main", "prepare_data"]


class RecipeError(RuntimeError):
    """A problem the user can fix (data, encoder weights, stage inputs, export)."""


USER_ERRORS = (
    DataPreparationError,
    EncoderUnavailable,
    ExportError,
    RecipeError,
    StageInputError,
)


def on_main(function: Callable[..., Any], **kwargs: Any) -> Any:
    """Runs ``function`` on the main process and gives its result to every process.

    Arguments
    ---------
    function : callable
        What to run.
    **kwargs : dict
        Its arguments.

    Returns
    -------
    result
        What ``function`` returned on the main process.

    Example
    -------
    >>> on_main(lambda a, b: a + b, a=1, b=2)
    3
    """
    result, message = None, None
    if if_main_process():
        try:
            result = function(**kwargs)
        except USER_ERRORS as error:
            message = str(error)
    result, message = ddp_broadcast((result, message), src=0)
    if message is not None:
        raise RecipeError(message)
    return result


def prepare_data(hparams: Dict[str, Any]) -> None:
    """Writes the manifests of ``hparams["dataset"]`` (``libritts`` or ``folder``).

    Arguments
    ---------
    hparams : dict
        Recipe hyperparameters (``data_folder``, ``<split>_json``,
        ``sample_rate``, ``resample_folder``, ``skip_prep`` and the split
        options of the dataset).
    """
    common = {
        "data_folder": hparams["data_folder"],
        "train_json": hparams["train_json"],
        "valid_json": hparams["valid_json"],
        "test_json": hparams["test_json"],
        "sample_rate": hparams["sample_rate"],
        "resample_folder": hparams["resample_folder"],
        "skip_prep": hparams["skip_prep"],
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
