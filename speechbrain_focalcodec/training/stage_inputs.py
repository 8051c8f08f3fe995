"""What a multi-stage recipe hands from one stage to the next.

Each stage writes ``stage.json`` in its output folder: its name, where its
checkpoints are and the digest of the frozen teacher it learned from. A later
stage takes an earlier stage's modules either from that output folder (its
best checkpoint, by the stage's validation key) or from one checkpoint
folder (``.../save/CKPT+...``) given by path. Every problem is reported in
one line (``StageInputError``): a folder of another stage, no checkpoint
yet, a module missing from the checkpoint, weights that do not fit the
recipe's architecture, or a stage trained on another teacher.

Authors
 * speechbrain-focalcodec developers 2026
"""

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch
from speechbrain.utils.checkpoints import METAFNAME, Checkpoint, Checkpointer
from torch import nn

from speechbrain_focalcodec.files import atomic_write_text

__all__ = [
    "STAGE_RECORD",
    "StageInputError",
    "load_stage_modules",
    "read_stage_record",
    "stage_checkpoint",
    "teacher_of",
    "write_stage_record",
]

STAGE_RECORD = "stage.json"


class StageInputError(RuntimeError):
    """An earlier stage's output cannot be used by this stage."""


def write_stage_record(
    output_folder: Union[str, Path],
    stage: str,
    save_folder: Union[str, Path],
    best_key: str,
    teacher_sha256: Optional[str],
) -> Dict[str, Any]:
    """Writes ``stage.json`` in a stage's output folder.

    Arguments
    ---------
    output_folder : str or Path
        The stage's output folder.
    stage : str
        The stage's name.
    save_folder : str or Path
        Its checkpoint folder.
    best_key : str
        The validation statistic (lower is better) that selects its best checkpoint.
    teacher_sha256 : str, optional
        Digest of the full-context teacher's weights the stage learned from.

    Returns
    -------
    record : dict

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> _ = write_stage_record(folder, "posemb", folder / "save", "posemb_mse", "abc")
    >>> read_stage_record(folder)["save_folder"]
    'save'
    """
    output_folder = Path(output_folder)
    save = Path(save_folder)
    try:
        save = save.resolve().relative_to(output_folder.resolve())
    except ValueError:
        save = save.resolve()
    record = {
        "stage": stage,
        "save_folder": str(save),
        "best_key": best_key,
        "teacher_sha256": teacher_sha256,
    }
    atomic_write_text(output_folder / STAGE_RECORD, json.dumps(record, indent=2))
    return record


def read_stage_record(folder: Union[str, Path]) -> Dict[str, Any]:
    """The ``stage.json`` of an output folder.

    Arguments
    ---------
    folder : str or Path
        Output folder of a stage.

    Returns
    -------
    record : dict
    """
    path = Path(folder) / STAGE_RECORD
    if not path.is_file():
        raise StageInputError(f"{folder} has no {STAGE_RECORD}: it is not a stage's output folder")
    return json.loads(path.read_text())


def teacher_of(source: Union[str, Path]) -> Optional[str]:
    """Digest of the teacher recorded for a stage's output or checkpoint folder.

    Arguments
    ---------
    source : str or Path
        Output folder, or a checkpoint folder inside one (``save/CKPT+...``).

    Returns
    -------
    teacher_sha256 : str or None
        None when no ``stage.json`` records it.
    """
    path = Path(str(source)).resolve()
    for folder in (path, *list(path.parents)[:2]):
        if (folder / STAGE_RECORD).is_file():
            return read_stage_record(folder).get("teacher_sha256")
    return None


def stage_checkpoint(
    source: Union[str, Path], stage: str, teacher_sha256: Optional[str] = None
) -> Checkpoint:
    """The checkpoint of ``stage`` that ``source`` designates.

    Arguments
    ---------
    source : str or Path
        The stage's output folder (its best checkpoint is taken) or one of its
        checkpoint folders (``CKPT+...``).
    stage : str
        The stage expected.
    teacher_sha256 : str, optional
        Digest of this run's teacher; a stage recorded with another teacher
        (in its output folder's ``stage.json``) is refused.

    Returns
    -------
    checkpoint : Checkpoint
    """
    path = Path(str(source))
    if not path.exists():
        raise StageInputError(f"The {stage} stage's output {source} does not exist")
    theirs = teacher_of(path)
    if teacher_sha256 and theirs and theirs != teacher_sha256:
        raise StageInputError(
            f"{source} was trained with another full-context teacher (weights "
            f"{theirs[:12]}..., this run: {teacher_sha256[:12]}...)"
        )
    if (path / METAFNAME).is_file():
        ckpt_dir = path.parent
        for checkpoint in Checkpointer(ckpt_dir).list_checkpoints():
            if checkpoint.path.resolve() == path.resolve():
                return checkpoint
        raise StageInputError(f"Cannot read the checkpoint {source}")
    if not (path / "stage.json").is_file():
        raise StageInputError(
            f"{source} is neither an output folder of the {stage} stage nor a checkpoint "
            "folder (CKPT+...)"
        )
    record = read_stage_record(path)
    if record["stage"] != stage:
        raise StageInputError(f"{source} holds the {record['stage']} stage, not the {stage} stage")
    save_folder = path / record["save_folder"]
    checkpoint = Checkpointer(save_folder).find_checkpoint(min_key=record["best_key"])
    if checkpoint is None:
        raise StageInputError(
            f"No end-of-epoch checkpoint in {save_folder}: train the {stage} stage for at "
            "least one epoch first"
        )
    return checkpoint


def load_stage_modules(
    source: Union[str, Path],
    stage: str,
    modules: Mapping[str, nn.Module],
    teacher_sha256: Optional[str] = None,
    new_prefixes: Optional[Mapping[str, Sequence[str]]] = None,
) -> Checkpoint:
    """Loads modules from an earlier stage's checkpoint (see ``stage_checkpoint``).

    Arguments
    ---------
    source : str or Path
        Output folder or checkpoint folder of the earlier stage.
    stage : str
        Its name.
    modules : mapping
        Checkpoint name -> module to load.
    teacher_sha256 : str, optional
        Digest of this run's teacher.
    new_prefixes : mapping, optional
        Checkpoint name -> prefixes of parameters that this stage adds (they
        may be missing from the checkpoint and keep their initialization).

    Returns
    -------
    checkpoint : Checkpoint
        The checkpoint that was loaded.

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> model = torch.nn.Linear(2, 2)
    >>> _ = Checkpointer(folder / "save", {"model": model}).save_checkpoint(meta={"loss": 1.0})
    >>> _ = write_stage_record(folder, "toy", folder / "save", "loss", None)
    >>> other = torch.nn.Linear(2, 2)
    >>> _ = load_stage_modules(folder, "toy", {"model": other})
    >>> torch.equal(other.weight, model.weight)
    True
    >>> try:
    ...     load_stage_modules(folder, "toy", {"model": torch.nn.Linear(3, 2)})
    ... except StageInputError as error:
    ...     print(str(error).split(": ", 1)[1])
    size mismatch for weight: [2, 2] in the checkpoint, [2, 3] here
    """
    checkpoint = stage_checkpoint(source, stage, teacher_sha256)
    new_prefixes = new_prefixes or {}
    for name, module in modules.items():
        path = checkpoint.path / f"{name}.ckpt"
        if not path.is_file():
            raise StageInputError(f"{checkpoint.path} has no {name}: is it a {stage} checkpoint?")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001  (any unreadable file: one line)
            raise StageInputError(f"Cannot read {path}: {error}") from None
        _check_fits(state, module, name, checkpoint.path, tuple(new_prefixes.get(name, ())))
        module.load_state_dict(state, strict=False)
    return checkpoint


def _check_fits(
    state: Mapping[str, torch.Tensor],
    module: nn.Module,
    name: str,
    where: Path,
    new_prefixes: Sequence[str],
) -> None:
    """Raises ``StageInputError`` unless ``state`` loads into ``module``."""
    ours = module.state_dict()
    problem = None
    missing = [k for k in ours if k not in state and not any(k.startswith(p) for p in new_prefixes)]
    unexpected = [k for k in state if k not in ours]
    if missing:
        problem = f"missing {', '.join(missing[:3])}"
    elif unexpected:
        problem = f"unexpected {', '.join(unexpected[:3])}"
    else:
        for key, value in state.items():
            if tuple(value.shape) != tuple(ours[key].shape):
                problem = (
                    f"size mismatch for {key}: {list(value.shape)} in the checkpoint, "
                    f"{list(ours[key].shape)} here"
                )
                break
    if problem:
        raise StageInputError(
            f"The {name} of {where} does not fit this recipe's {name} (different "
            f"architecture?): {problem}"
        )
