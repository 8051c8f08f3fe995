#!/usr/bin/env python3
"""Combines the two training stages into one pretrained FocalCodec directory.

The best stage-1 checkpoint (compressor, quantizer, decompressor; lowest
validation feature error) and the best stage-2 checkpoint (decoder; lowest
validation log-mel L1) are put together with the encoder both stages were
trained on, and written with ``FocalCodec.save_pretrained``: the directory
(``config.json``, ``model.safetensors``, ``hyperparams.yaml``) loads with
``FocalCodec.from_pretrained(dir)`` and
``FocalCodecInterface.from_hparams(source=dir)``, exactly like an official
checkpoint. ``training.json`` records where each part came from.

Training runs this automatically at the end of a stage given
``--other_stage_folder``; by hand:
> python -m speechbrain_focalcodec.training.export results/stage1_50hz/0 results/stage2/0 \
      results/focalcodec_50hz

Checkpoints are read with ``weights_only=True`` (``checkpointing.AtomicCheckpointer``)
and every exported file is written whole or not at all, with the same permissions.

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Sequence, Tuple, Union

from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.checkpoints import Checkpoint

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.files import atomic_write_text, current_umask
from speechbrain_focalcodec.training.checkpointing import AtomicCheckpointer
from speechbrain_focalcodec.training.encoder import (
    EncoderUnavailable,
    load_encoder,
    read_encoder_record,
)

__all__ = ["ExportError", "export_codec", "load_stage"]

logger = logging.getLogger(__name__)

# Trained modules of each stage (the quantizer has no weights) and the
# validation statistic that selects its best checkpoint.
STAGES = {
    1: {"modules": ("compressor", "decompressor"), "best_key": "feature_mse"},
    2: {"modules": ("decoder",), "best_key": "mel_l1"},
}


class ExportError(RuntimeError):
    """The stages cannot be combined into a codec."""


def load_stage(folder: Union[str, Path]) -> Tuple[Dict[str, Any], Checkpoint]:
    """Rebuilds a stage's modules from its output folder and loads its best checkpoint.

    Arguments
    ---------
    folder : str or Path
        Output folder of a training stage (holding ``hyperparams.yaml``).

    Returns
    -------
    hparams : dict
        The stage's hyperparameters, its trained modules loaded.
    checkpoint : Checkpoint
        The checkpoint that was loaded.
    """
    folder = Path(folder)
    yaml_path = folder / "hyperparams.yaml"
    if not yaml_path.is_file():
        raise ExportError(f"No hyperparams.yaml in {folder}: is it a training output folder?")
    with open(yaml_path, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream)
    stage = STAGES.get(hparams.get("stage"))
    if stage is None:
        raise ExportError(f"{yaml_path} is not a FocalCodec training stage (`stage` is 1 or 2)")
    # The folders in the yaml are relative to where training ran: locate them from `folder`.
    save_folder = folder / os.path.relpath(hparams["save_folder"], hparams["output_folder"])
    checkpointer = AtomicCheckpointer(
        save_folder, recoverables={name: hparams[name] for name in stage["modules"]}
    )
    checkpoint = checkpointer.find_checkpoint(min_key=stage["best_key"])
    if checkpoint is None:
        raise ExportError(
            f"No end-of-epoch checkpoint in {save_folder}: train stage {hparams['stage']} "
            "for at least one epoch first"
        )
    try:
        checkpointer.load_checkpoint(checkpoint)
    except (KeyError, RuntimeError, OSError, CheckpointError) as error:
        raise ExportError(f"Cannot load {checkpoint.path}: {error}") from None
    return hparams, checkpoint


def _same_permissions(folder: Path) -> None:
    """Gives every file of ``folder`` the permissions of a new file (umask applied).

    Some writers (safetensors) create their file readable by its owner only; an
    exported codec is meant to be shared like the rest of the directory.
    """
    umask = current_umask()
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~umask)


def export_codec(
    stage1_folder: Union[str, Path],
    stage2_folder: Union[str, Path],
    export_folder: Union[str, Path],
) -> FocalCodec:
    """Writes the codec made of the two stages' best checkpoints.

    Arguments
    ---------
    stage1_folder : str or Path
        Output folder of stage 1.
    stage2_folder : str or Path
        Output folder of stage 2.
    export_folder : str or Path
        Where to write the pretrained codec.

    Returns
    -------
    codec : FocalCodec
        The exported codec (eval mode).
    """
    stages = {}
    for number, folder in ((1, stage1_folder), (2, stage2_folder)):
        hparams, checkpoint = load_stage(folder)
        if hparams["stage"] != number:
            raise ExportError(f"{folder} holds stage {hparams['stage']}, not stage {number}")
        try:
            record = read_encoder_record(folder)
        except EncoderUnavailable as error:
            raise ExportError(str(error)) from None
        stages[number] = (hparams, checkpoint, record)
    (hparams1, checkpoint1, record1), (hparams2, checkpoint2, record2) = stages[1], stages[2]
    if record1["sha256"] != record2["sha256"]:
        raise ExportError(
            f"Stage 1 ({stage1_folder}: encoder {record1['source']}) and stage 2 "
            f"({stage2_folder}: encoder {record2['source']}) were trained on different "
            "encoders: the decoder would not understand the decompressed features"
        )
    if not Path(record1["weights"]).is_file():
        raise ExportError(f"The encoder weights {record1['weights']} are gone")
    load_encoder(hparams1["encoder"], record1)
    try:
        codec = FocalCodec(
            encoder=hparams1["encoder"],
            compressor=hparams1["compressor"],
            quantizer=hparams1["quantizer"],
            decompressor=hparams1["decompressor"],
            decoder=hparams2["decoder"],
        ).eval()
    except ValueError as error:
        raise ExportError(f"The stages do not fit together: {error}") from None
    export_folder = Path(export_folder)
    codec.save_pretrained(export_folder)
    provenance = {
        "stage1": {
            "folder": str(Path(stage1_folder).resolve()),
            "checkpoint": str(checkpoint1.path),
            "meta": checkpoint1.meta,
        },
        "stage2": {
            "folder": str(Path(stage2_folder).resolve()),
            "checkpoint": str(checkpoint2.path),
            "meta": checkpoint2.meta,
        },
        "encoder": {"source": record1["source"], "sha256": record1["sha256"]},
        "token_rate": codec.token_rate,
        "codebook_size": codec.codebook_size,
        "bitrate": codec.bitrate,
    }
    publish_provenance(codec, export_folder, provenance)
    return codec


def publish_provenance(codec: Any, export_folder: Path, provenance: Dict[str, Any]) -> None:
    """Writes ``training.json`` next to an exported codec, gives every file the
    permissions of a new file and logs what was exported.

    Arguments
    ---------
    codec : FocalCodec
        The exported codec.
    export_folder : pathlib.Path
        Its directory.
    provenance : dict
        What it was trained from (JSON-serializable, ``str`` for the rest).
    """
    atomic_write_text(
        export_folder / "training.json", json.dumps(provenance, indent=2, default=str)
    )
    _same_permissions(export_folder)
    logger.info(
        "Exported the %scodec (%g tokens/s, %d codes, %.2f kbps) to %s",
        "causal " if codec.causal else "",
        codec.token_rate,
        codec.codebook_size,
        codec.bitrate / 1000,
        export_folder,
    )


def export_command(
    argv: Sequence[str],
    description: str,
    stages: Sequence[Tuple[str, str]],
    export: Callable[..., Any],
) -> int:
    """The command line of an export: two stages' output folders and the export folder.

    Arguments
    ---------
    argv : sequence of str
        Command-line arguments.
    description : str
        What the command does.
    stages : sequence of (str, str)
        Name and help of the two stage folders, in ``export``'s order.
    export : callable
        Called with the two stage folders and the export folder.

    Returns
    -------
    status : int
        0, or 1 after a one-line error.
    """
    parser = argparse.ArgumentParser(description=description)
    for name, help_text in stages:
        parser.add_argument(name, help=help_text)
    parser.add_argument("export_folder", help="where to write the codec")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        export(*(getattr(args, name) for name, _ in stages), args.export_folder)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str]) -> int:
    """Command line: ``python -m speechbrain_focalcodec.training.export <s1> <s2> <out>``."""
    stages = [
        ("stage1_folder", "output folder of stage 1"),
        ("stage2_folder", "output folder of stage 2"),
    ]
    return export_command(argv, __doc__.split("\n\n")[0], stages, export_codec)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
