"""A SpeechBrain checkpointer that survives kills and full disks and never unpickles code.

SpeechBrain's ``Checkpointer`` writes a checkpoint's ``CKPT.yaml`` first and
its parameter files after it, and recovery trusts any folder with a
``CKPT.yaml``: a run killed while saving (a stage-2 checkpoint with the
discriminators and both optimizers is over a gigabyte) would then resume from
a truncated checkpoint and crash. Here:

* ``CKPT.yaml`` is written under a temporary name and renamed (atomically) once
  every file is complete, so an interrupted save is invisible to recovery; the
  folders of interrupted saves (partial or empty ``CKPT+...`` folders) are
  removed at the next start and before every save;
* every tensor file of a checkpoint is written whole or not at all
  (``speechbrain_focalcodec.files.atomic_open``), and a full disk stops training
  with one line, ``No space left on device while writing <path>``
  (``OutputError``), leaving the last complete checkpoint usable;
* every tensor file is loaded with ``torch.load(..., weights_only=True)``, whatever
  the environment says (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``) and whatever the
  recoverable's SpeechBrain hook does: a checkpoint that would need to unpickle
  code is refused with a ``CheckpointError``.

SpeechBrain's save and load hooks (modules, optimizers, schedulers, grad scalers)
call ``torch.save`` / ``torch.load`` themselves; ``torch_io_guard`` routes those
calls, while this checkpointer saves or recovers, through the two safe versions
below (``atomic_torch_save``, ``weights_only_load``).

Authors
 * speechbrain-focalcodec developers 2026
"""

import contextlib
import errno
import logging
import os
import pickle
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import torch
from speechbrain.utils.checkpoints import METAFNAME, Checkpointer
from speechbrain.utils.distributed import if_main_process

from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.files import OutputError, atomic_open

__all__ = [
    "AtomicCheckpointer",
    "atomic_torch_save",
    "remove_interrupted_checkpoints",
    "torch_io_guard",
    "weights_only_load",
]

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"

_torch_save = torch.save
_torch_load = torch.load


def atomic_torch_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    """``torch.save`` that writes a path whole or not at all.

    A file object is written to directly; a path goes through ``atomic_open``: a
    failure (full disk included, as ``OutputError``) leaves no partial file.

    Arguments
    ---------
    obj : object
        What to save.
    f : str, os.PathLike or file object
        Where.
    *args : tuple
    **kwargs : dict
        Forwarded to ``torch.save``.

    Example
    -------
    >>> path = getfixture("tmp_path") / "x.ckpt"
    >>> atomic_torch_save({"w": torch.ones(2)}, path)
    >>> weights_only_load(path)["w"].tolist()
    [1.0, 1.0]
    """
    if not isinstance(f, (str, os.PathLike)):
        _torch_save(obj, f, *args, **kwargs)
        return
    with atomic_open(f, "wb") as stream:
        writer = _RecordingWriter(stream)
        try:
            _torch_save(obj, writer, *args, **kwargs)
        except RuntimeError:
            # torch's writer turns the stream's OSError into "unexpected pos ...".
            if writer.error is not None:
                raise writer.error from None
            raise


class _RecordingWriter:
    """A binary stream that remembers the ``OSError`` its ``write`` raised."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.error: Optional[OSError] = None

    def write(self, data: bytes) -> int:
        try:
            return self.stream.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.stream.flush()


def weights_only_load(f: Any, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``torch.load`` with ``weights_only=True``, always.

    Arguments
    ---------
    f : str, os.PathLike or file object
        What to load.
    map_location : optional
        As for ``torch.load``.
    *args : tuple
    **kwargs : dict
        Forwarded to ``torch.load``; ``weights_only=False`` or a ``pickle_module`` is
        refused.

    Returns
    -------
    obj
        The loaded tensors and plain containers.

    Raises
    ------
    CheckpointError
        When the file holds anything else than tensors and plain values.

    Example
    -------
    >>> class Payload:
    ...     def __reduce__(self):
    ...         return (print, ("pwned",))
    >>> path = getfixture("tmp_path") / "evil.ckpt"
    >>> torch.save(Payload(), path)
    >>> weights_only_load(path)
    Traceback (most recent call last):
    ...
    speechbrain_focalcodec.checkpoints.CheckpointError: Refusing to load .../evil.ckpt: ...
    """
    if kwargs.pop("weights_only", True) is not True or kwargs.get("pickle_module"):
        raise CheckpointError(f"Refusing to load {f} without weights_only=True")
    try:
        return _torch_load(f, map_location, *args, weights_only=True, **kwargs)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unpickling error"
        raise CheckpointError(
            f"Refusing to load {f}: it holds more than tensors and plain values ({reason})"
        ) from None


@contextlib.contextmanager
def torch_io_guard() -> Iterator[None]:
    """Routes ``torch.save`` / ``torch.load`` through ``atomic_torch_save`` /
    ``weights_only_load`` inside the block (for SpeechBrain's save and load hooks).

    Example
    -------
    >>> with torch_io_guard():
    ...     torch.load is weights_only_load
    True
    >>> torch.load is weights_only_load
    False
    """
    saved = torch.save, torch.load
    torch.save, torch.load = atomic_torch_save, weights_only_load
    try:
        yield
    finally:
        torch.save, torch.load = saved


def remove_interrupted_checkpoints(checkpoints_dir: Path) -> None:
    """Removes the ``CKPT+...`` folders that have no ``CKPT.yaml`` (interrupted saves).

    Arguments
    ---------
    checkpoints_dir : Path
        A checkpointer's folder.

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> (folder / "CKPT+empty").mkdir()
    >>> remove_interrupted_checkpoints(folder)
    >>> list(folder.iterdir())
    []
    """
    if not if_main_process() or not Path(checkpoints_dir).is_dir():
        return
    for folder in Path(checkpoints_dir).glob("CKPT+*"):
        if folder.is_dir() and not (folder / METAFNAME).exists():
            logger.warning("Removing the interrupted checkpoint %s", folder)
            shutil.rmtree(folder, ignore_errors=True)


class AtomicCheckpointer(Checkpointer):
    """``Checkpointer`` whose checkpoints appear only once completely written.

    Arguments
    ---------
    *args : tuple
    **kwargs : dict
        Forwarded to ``speechbrain.utils.checkpoints.Checkpointer``.

    Example
    -------
    >>> folder = Path(getfixture("tmpdir"))
    >>> model = torch.nn.Linear(2, 2)
    >>> checkpointer = AtomicCheckpointer(folder, recoverables={"model": model})
    >>> _ = checkpointer.save_checkpoint(meta={"loss": 1.0})
    >>> (folder / "CKPT+interrupted").mkdir()  # a save killed half way
    >>> _ = (folder / "CKPT+interrupted" / "CKPT.yaml.partial").write_text("loss: 0.0")
    >>> checkpointer.find_checkpoint(min_key="loss").meta["loss"]
    1.0
    """

    def _save_checkpoint_metafile(
        self,
        fpath: Path,
        meta_to_include: Optional[Dict[str, Any]] = None,
        end_of_epoch: bool = True,
    ) -> Dict[str, Any]:
        # Called first by `save_checkpoint`: the meta file waits under a temporary name.
        partial = Path(f"{fpath}{PARTIAL_SUFFIX}")
        return super()._save_checkpoint_metafile(partial, meta_to_include or {}, end_of_epoch)

    def save_checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Saves a checkpoint (see ``Checkpointer.save_checkpoint``), then publishes it.

        Arguments
        ---------
        *args : tuple
        **kwargs : dict
            Forwarded to ``Checkpointer.save_checkpoint``.

        Returns
        -------
        checkpoint : Checkpoint or None
            None on processes other than the main one.

        Raises
        ------
        OutputError
            When a file cannot be written (``No space left on device while writing
            <path>``); the checkpoint being written is removed, earlier ones are kept.
        """
        remove_interrupted_checkpoints(self.checkpoints_dir)
        try:
            with torch_io_guard():
                checkpoint = super().save_checkpoint(*args, **kwargs)
        except OSError as error:
            remove_interrupted_checkpoints(self.checkpoints_dir)
            if isinstance(error, OutputError):
                raise
            if error.errno == errno.ENOSPC:
                where = error.filename or self.checkpoints_dir
                raise OutputError(f"No space left on device while writing {where}") from None
            raise OutputError(
                f"cannot write a checkpoint in {self.checkpoints_dir}: {error}"
            ) from None
        if checkpoint is not None:
            meta = checkpoint.path / METAFNAME
            Path(f"{meta}{PARTIAL_SUFFIX}").replace(meta)
        return checkpoint

    def _call_load_hooks(self, checkpoint: Any) -> None:
        # Every recoverable's hook loads tensors with weights_only=True.
        with torch_io_guard():
            super()._call_load_hooks(checkpoint)

    def recover_if_possible(self, *args: Any, **kwargs: Any) -> Any:
        """Removes interrupted saves, then recovers (see ``Checkpointer.recover_if_possible``).

        Arguments
        ---------
        *args : tuple
        **kwargs : dict
            Forwarded to ``Checkpointer.recover_if_possible``.

        Returns
        -------
        checkpoint : Checkpoint or None
            The loaded checkpoint, if any.
        """
        remove_interrupted_checkpoints(self.checkpoints_dir)
        return super().recover_if_possible(*args, **kwargs)
