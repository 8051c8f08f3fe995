#!/usr/bin/env python3
"""Combines the FocalCodec-Stream stages into one pretrained causal codec directory.

The best checkpoint of stage ``joint`` (causal encoder, compressor,
decompressor with its refiner; the quantizer has no weights) and the best
checkpoint of stage ``wavenext`` (the causal decoder) make one
``FocalCodec``, written with ``FocalCodec.save_pretrained`` in the official
causal layout (``config.json``, ``model.safetensors``, ``hyperparams.yaml``):
it loads with ``FocalCodec.from_pretrained(dir)``,
``FocalCodecInterface.from_hparams(source=dir)`` and the official
``focalcodec`` package, and streams with ``codec.stream_encoder()`` /
``codec.stream_decoder()``. ``training.json`` records where each part came
from. Both stages must have learned from the same full-context teacher.

Stage ``joint`` runs this at its end when given ``--wavenext_folder``; by hand:
> python -m speechbrain_focalcodec.training.stream_export \
      results/joint_2k/0 results/wavenext/0 results/focalcodec_50hz_2k_causal

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
import sys
from pathlib import Path
from typing import Any, Dict, Sequence, Union

from hyperpyyaml import load_hyperpyyaml

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.training.export import (
    ExportError,
    export_command,
    publish_provenance,
)
from speechbrain_focalcodec.training.stage_inputs import (
    StageInputError,
    load_stage_modules,
    read_stage_record,
)

__all__ = ["export_stream_codec"]

logger = logging.getLogger(__name__)


def _stage_hparams(folder: Path) -> Dict[str, Any]:
    path = folder / "hyperparams.yaml"
    if not path.is_file():
        raise ExportError(f"No hyperparams.yaml in {folder}: is it a training output folder?")
    with open(path, encoding="utf-8") as stream:
        return load_hyperpyyaml(stream)


def export_stream_codec(
    joint_folder: Union[str, Path],
    wavenext_folder: Union[str, Path],
    export_folder: Union[str, Path],
) -> FocalCodec:
    """Writes the causal codec made of the ``joint`` and ``wavenext`` stages.

    Arguments
    ---------
    joint_folder : str or Path
        Output folder of stage ``joint``.
    wavenext_folder : str or Path
        Output folder of stage ``wavenext``.
    export_folder : str or Path
        Where to write the pretrained codec.

    Returns
    -------
    codec : FocalCodec
        The exported codec (eval mode).
    """
    joint_folder, wavenext_folder = Path(joint_folder), Path(wavenext_folder)
    try:
        records = {
            "joint": read_stage_record(joint_folder),
            "wavenext": read_stage_record(wavenext_folder),
        }
        for stage, record in records.items():
            if record["stage"] != stage:
                raise ExportError(
                    f"{joint_folder if stage == 'joint' else wavenext_folder} holds the "
                    f"{record['stage']} stage, not the {stage} stage"
                )
        teacher = records["joint"]["teacher_sha256"]
        joint = _stage_hparams(joint_folder)
        decoder = _stage_hparams(wavenext_folder)["decoder"]
        parts = {name: joint[name] for name in ("causal_encoder", "compressor", "decompressor")}
        joint_ckpt = load_stage_modules(joint_folder, "joint", parts, teacher)
        decoder_ckpt = load_stage_modules(
            wavenext_folder, "wavenext", {"decoder": decoder}, teacher
        )
    except StageInputError as error:
        raise ExportError(str(error)) from None
    try:
        codec = FocalCodec(
            encoder=parts["causal_encoder"],
            compressor=parts["compressor"],
            quantizer=joint["quantizer"],
            decompressor=parts["decompressor"],
            decoder=decoder,
        ).eval()
    except ValueError as error:
        raise ExportError(f"The stages do not fit together: {error}") from None
    export_folder = Path(export_folder)
    codec.save_pretrained(export_folder)
    provenance = {
        stage: {"folder": str(folder.resolve()), "checkpoint": str(ckpt.path), "meta": ckpt.meta}
        for stage, folder, ckpt in (
            ("joint", joint_folder, joint_ckpt),
            ("wavenext", wavenext_folder, decoder_ckpt),
        )
    }
    provenance.update(
        teacher_sha256=teacher,
        token_rate=codec.token_rate,
        codebook_size=codec.codebook_size,
        bitrate=codec.bitrate,
        latency_ms=codec.latency,
    )
    publish_provenance(codec, export_folder, provenance)
    return codec


def main(argv: Sequence[str]) -> int:
    """Command line: ``stream_export.py <joint folder> <wavenext folder> <export folder>``."""
    stages = [
        ("joint_folder", "output folder of stage joint"),
        ("wavenext_folder", "output folder of stage wavenext"),
    ]
    return export_command(argv, __doc__.split("\n\n")[0], stages, export_stream_codec)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
