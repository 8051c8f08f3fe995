"""A SpeechBrain checkpointer that survives being killed while it writes.

SpeechBrain's ``Checkpointer`` writes a checkpoint's ``CKPT.yaml`` first and
its parameter files after it, and recovery trusts any folder with a
``CKPT.yaml``: a run killed while saving (a stage-2 checkpoint with the
discriminators and both optimizers is over a gigabyte) would then resume from
a truncated checkpoint and crash. Here ``CKPT.yaml`` is written under a
temporary name and renamed (atomically) once every file is complete, so an
interrupted save is invisible to recovery; such leftovers are removed the
next time training starts.

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

from speechbrain.utils.checkpoints import METAFNAME, Checkpointer
from speechbrain.utils.distributed import if_main_process

__all__ = ["AtomicCheckpointer"]

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


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
        """
        checkpoint = super().save_checkpoint(*args, **kwargs)
        if checkpoint is not None:
            meta = checkpoint.path / METAFNAME
            Path(f"{meta}{PARTIAL_SUFFIX}").replace(meta)
        return checkpoint

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
        if if_main_process() and self.checkpoints_dir.is_dir():
            for folder in self.checkpoints_dir.glob("CKPT+*"):
                interrupted = Path(f"{folder / METAFNAME}{PARTIAL_SUFFIX}")
                if interrupted.exists() and not (folder / METAFNAME).exists():
                    logger.warning("Removing the interrupted checkpoint %s", folder)
                    shutil.rmtree(folder, ignore_errors=True)
        return super().recover_if_possible(*args, **kwargs)
