"""Weights of the frozen WavLM encoder shared by both training stages.

FocalCodec's encoder is the first six layers of WavLM-large, frozen. The
recipe takes them from an official FocalCodec checkpoint (by default
``lucadellalib/focalcodec_50hz``: the three non-causal checkpoints share the
same encoder), fetched once from the Hugging Face Hub (through
``huggingface_hub``: ``HF_ENDPOINT`` mirrors and ``HF_HUB_OFFLINE`` are
honoured) or read from a local copy, and caches them as
``<encoder_folder>/<source>/encoder.safetensors``.

When the weights cannot be had (offline with no cached copy, a wrong
repository id, a server error), training stops with a one-line message saying
which and what to do. Only an explicit ``random_encoder: True`` trains on a randomly
initialized encoder (the tests and the bundled demo, where no weights can be
downloaded): its weights are drawn once and stored in the encoder folder, so
that both stages, possibly run in parallel, use the same encoder.

Both stages record the encoder they used (``encoder.json`` in their output
folder, with a digest of the weights) so that the export refuses to combine
stages trained on different encoders.

Authors
 * speechbrain-focalcodec developers 2026
"""

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, Union

import torch
from safetensors.torch import load_file, save_file

from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.files import atomic_write_text
from speechbrain_focalcodec.lobes import WavLM

__all__ = [
    "ENCODER_RECORD",
    "EncoderUnavailable",
    "load_encoder",
    "prepare_encoder",
    "read_encoder_record",
]

logger = logging.getLogger(__name__)

ENCODER_RECORD = "encoder.json"
WEIGHTS_FILE = "encoder.safetensors"
# Constructor arguments that do not change the weights or the features.
_IRRELEVANT_ARGS = ("dropout",)


class EncoderUnavailable(RuntimeError):
    """The encoder weights can be neither fetched nor found locally."""


def _architecture(encoder: WavLM) -> Dict[str, Any]:
    config = {k: v for k, v in encoder.config.items() if k not in _IRRELEVANT_ARGS}
    return json.loads(json.dumps(config))


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _publish(state_dict: Dict[str, torch.Tensor], path: Path) -> None:
    """Writes weights to ``path`` unless another process did first (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    save_file({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, str(partial))
    try:
        os.link(partial, path)  # fails if the file exists: the first writer wins
    except FileExistsError:
        pass
    except OSError:  # file systems without hard links
        if not path.exists():
            partial.replace(path)
    partial.unlink(missing_ok=True)


def _random_weights(encoder: WavLM, folder: Path) -> Path:
    config = json.dumps(_architecture(encoder), sort_keys=True)
    tag = hashlib.sha256(config.encode()).hexdigest()[:12]
    path = folder / f"random-{tag}" / WEIGHTS_FILE
    if not path.is_file():
        _publish(encoder.state_dict(), path)
        atomic_write_text(path.parent / "config.json", config)
    logger.warning(
        "Training with a RANDOMLY INITIALIZED encoder (random_encoder: True), stored in %s. "
        "This is for tests and the bundled demo only: the codec will not be comparable "
        "to FocalCodec, whose encoder is pretrained WavLM-large.",
        path,
    )
    return path


def _fetched_weights(encoder: WavLM, source: str, folder: Path) -> Path:
    slug = re.sub(r"[^\w.-]+", "--", str(source).strip("/")).strip("-") or "encoder"
    path = folder / slug / WEIGHTS_FILE
    if path.is_file():
        return path
    hint = (
        "Offline, download an official FocalCodec checkpoint (e.g. lucadellalib/focalcodec_50hz: "
        "config.json and model.safetensors) on a connected machine and pass its local "
        "directory with --encoder_source=<dir>, or copy an encoder cache folder to "
        f"{folder}. Only for tests or demos, --random_encoder=True trains on a randomly "
        "initialized encoder"
    )
    try:
        # Offline (HF_HUB_OFFLINE=1), a copy in the Hugging Face cache still works.
        codec = FocalCodec.from_pretrained(source)
    except CheckpointError as error:
        reason = " ".join(str(error).split())
        raise EncoderUnavailable(
            f"Cannot get the WavLM encoder weights from '{source}': {reason}. {hint}."
        ) from None
    if _architecture(codec.encoder) != _architecture(encoder):
        raise EncoderUnavailable(
            f"The encoder of '{source}' does not have the architecture of this recipe's "
            f"`encoder`: {_architecture(codec.encoder)} vs {_architecture(encoder)}"
        )
    _publish(codec.encoder.state_dict(), path)
    atomic_write_text(path.parent / "source.txt", f"{source}\n")
    logger.info("Cached the encoder weights of %s in %s", source, path)
    return path


def prepare_encoder(
    encoder: WavLM,
    source: str,
    encoder_folder: Union[str, Path],
    random_encoder: bool = False,
) -> Dict[str, Any]:
    """Makes the encoder weights available locally (call on the main process).

    Arguments
    ---------
    encoder : WavLM
        The recipe's encoder (its architecture is checked against the source;
        with ``random_encoder`` its current weights are the random ones).
    source : str
        Hugging Face repository or local directory of an official FocalCodec
        checkpoint whose encoder is taken.
    encoder_folder : str or Path
        Cache of encoder weights, shared by the two stages.
    random_encoder : bool
        Use (and store) random weights instead: tests and demos only.

    Returns
    -------
    record : dict
        ``weights`` (path), ``sha256``, ``source`` and ``random``; give it to
        ``load_encoder`` on every process.

    Raises
    ------
    EncoderUnavailable
        When the weights can be neither fetched nor found locally.
    """
    folder = Path(encoder_folder).resolve()
    if random_encoder:
        path = _random_weights(encoder, folder)
    else:
        path = _fetched_weights(encoder, source, folder)
    return {
        "weights": str(path),
        "sha256": _digest(path),
        "source": "random" if random_encoder else str(source),
        "random": bool(random_encoder),
        "architecture": _architecture(encoder),
    }


def load_encoder(
    encoder: WavLM, record: Dict[str, Any], output_folder: Union[str, Path, None] = None
) -> None:
    """Loads the prepared weights into ``encoder`` and freezes it.

    Arguments
    ---------
    encoder : WavLM
        The recipe's encoder.
    record : dict
        What ``prepare_encoder`` returned.
    output_folder : str or Path, optional
        Where to write the record (``encoder.json``) for the export.
    """
    encoder.load_state_dict(load_file(record["weights"]), strict=True)
    encoder.eval().requires_grad_(False)
    if output_folder is not None:
        path = Path(output_folder) / ENCODER_RECORD
        atomic_write_text(path, json.dumps(record, indent=2))


def read_encoder_record(folder: Union[str, Path]) -> Dict[str, Any]:
    """The encoder record of a stage's output folder.

    Arguments
    ---------
    folder : str or Path
        Output folder of a training stage.

    Returns
    -------
    record : dict
    """
    path = Path(folder) / ENCODER_RECORD
    if not path.is_file():
        raise EncoderUnavailable(
            f"No {ENCODER_RECORD} in {folder}: is it a training output folder?"
        )
    return json.loads(path.read_text())
