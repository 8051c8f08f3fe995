#!/usr/bin/env python3
"""Recipe for training FocalCodec-Stream (causal, 50 Hz) on LibriTTS or on any folder of audio.

Five stages (``hparams/<stage>.yaml``; ``tiny_<stage>.yaml``: tiny models for
tests and the demo), each with its own output folder:

1. ``wavenext``: causal WaveNeXt decoder, 24 kHz, trained as a GAN on the
   features of the frozen full-context WavLM-6 (the teacher);
2. ``posemb``: causal convolutional positional embedding distilled from the
   teacher's;
3. ``wavlm``: causal WavLM-6 distilled from the teacher, layer by layer
   (needs ``--posemb_folder``);
4. ``bsq_{2k,4k,65k}``: causal compressor + binary spherical quantizer +
   decompressor on the distilled encoder's features (needs ``--wavlm_folder``);
5. ``joint_{2k,4k,65k}``: encoder, compressor, quantizer, decompressor and
   chunk-wise refiner fine-tuned against the teacher's features (needs
   ``--wavlm_folder`` and ``--bsq_folder``); given ``--wavenext_folder``, it
   ends by exporting the codec (see ``stream_export.py``).

Stage ``wavenext`` runs in parallel with stages 2-5. An earlier stage is given
by its output folder (its best checkpoint is used) or by one of its
checkpoint folders (``save/CKPT+...``).

> python train.py hparams/wavenext.yaml --data_folder <LibriTTS>
> python train.py hparams/posemb.yaml --data_folder <LibriTTS>
> python train.py hparams/wavlm.yaml --data_folder <LibriTTS> --posemb_folder results/posemb/0
> python train.py hparams/bsq_2k.yaml --data_folder <LibriTTS> --wavlm_folder results/wavlm/0
> python train.py hparams/joint_2k.yaml --data_folder <LibriTTS> \
      --wavlm_folder results/wavlm/0 --bsq_folder results/bsq_2k/0 \
      --wavenext_folder results/wavenext/0
Any folder of audio files: add ``--dataset folder``.
Several GPUs: ``torchrun --nproc_per_node=<N> train.py ...``.

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
import sys
from typing import Any, Dict, Optional, Sequence

import speechbrain as sb
from speechbrain.utils.distributed import ddp_barrier, if_main_process

from speechbrain_focalcodec.training.dataio import dataio_prepare, loader_kwargs
from speechbrain_focalcodec.training.distill_brain import EncoderDistillBrain, PosEmbDistillBrain
from speechbrain_focalcodec.training.distributed import init_distributed
from speechbrain_focalcodec.training.joint_brain import JointBrain, StreamQuantizerBrain
from speechbrain_focalcodec.training.runner import (
    RecipeError,
    load_recipe_hparams,
    main_only,
    prepare_data,
    run_recipe,
    setup_frozen_encoder,
)
from speechbrain_focalcodec.training.stage_inputs import (
    load_stage_modules,
    teacher_of,
    write_stage_record,
)
from speechbrain_focalcodec.training.stream_export import export_stream_codec
from speechbrain_focalcodec.training.wavenext_brain import WaveNeXtBrain

logger = logging.getLogger(__name__)

BRAINS = {
    "wavenext": WaveNeXtBrain,
    "posemb": PosEmbDistillBrain,
    "wavlm": EncoderDistillBrain,
    "bsq": StreamQuantizerBrain,
    "joint": JointBrain,
}
# Earlier stages each stage needs (hyperparameter holding the folder -> stage).
NEEDS = {
    "wavlm": {"posemb_folder": "posemb"},
    "bsq": {"wavlm_folder": "wavlm"},
    "joint": {"wavlm_folder": "wavlm", "bsq_folder": "bsq"},
}


def _required(hparams: Dict[str, Any], key: str, stage: str) -> str:
    value = hparams.get(key)
    if not value:
        raise RecipeError(
            f"Stage {hparams['stage']} needs the output folder of stage {stage}: "
            f"pass --{key}=<folder>"
        )
    return str(value)


def _freeze_positional_embeddings(encoder) -> None:
    """The distilled positional embeddings stay as stage ``posemb`` left them."""
    encoder.encoder.positional_embedding.requires_grad_(False)
    encoder.encoder.relative_embedding.requires_grad_(False)


def stage_folders(hparams: Dict[str, Any]) -> Dict[str, str]:
    """The earlier stages' folders the stage needs (one-line error if one is not given).

    Arguments
    ---------
    hparams : dict
        The stage's hyperparameters.

    Returns
    -------
    folders : dict
        Hyperparameter name -> folder.
    """
    needs = NEEDS.get(hparams["stage"], {})
    return {key: _required(hparams, key, stage) for key, stage in needs.items()}


def prepare_models(hparams: Dict[str, Any]) -> Optional[str]:
    """Loads the teacher and what the stage takes from earlier stages.

    Arguments
    ---------
    hparams : dict
        The stage's hyperparameters.

    Returns
    -------
    teacher_sha256 : str or None
        Digest of the full-context teacher's weights.
    """
    stage = hparams["stage"]
    folders = stage_folders(hparams)
    if stage == "bsq":
        # The frozen encoder is the distilled causal one; the teacher is stage wavlm's.
        teacher = teacher_of(folders["wavlm_folder"])
        load_stage_modules(folders["wavlm_folder"], "wavlm", {"causal_encoder": hparams["encoder"]})
        hparams["encoder"].eval().requires_grad_(False)
        return teacher
    teacher = setup_frozen_encoder(hparams)["sha256"]
    if stage == "posemb":
        hparams["posemb"].load_state_dict(
            hparams["encoder"].encoder.positional_embedding.state_dict()
        )
    elif stage == "wavlm":
        student = hparams["causal_encoder"]
        student.load_state_dict(hparams["encoder"].state_dict())
        load_stage_modules(
            folders["posemb_folder"],
            "posemb",
            {"posemb": student.encoder.positional_embedding},
            teacher,
        )
        _freeze_positional_embeddings(student)
    elif stage == "joint":
        load_stage_modules(
            folders["wavlm_folder"], "wavlm", {"causal_encoder": hparams["causal_encoder"]}, teacher
        )
        load_stage_modules(
            folders["bsq_folder"],
            "bsq",
            {"compressor": hparams["compressor"], "decompressor": hparams["decompressor"]},
            teacher,
            new_prefixes={"decompressor": ("refiner.",)},
        )
        _freeze_positional_embeddings(hparams["causal_encoder"])
    return teacher


def run(argv: Sequence[str]) -> None:
    """Trains one stage; see the module docstring."""
    hparams_file, run_opts, overrides, hparams = load_recipe_hparams(argv)
    stage = hparams.get("stage")
    if stage not in BRAINS:
        raise RecipeError(f"{hparams_file} must set `stage` to one of {', '.join(BRAINS)}")
    if hparams.get("augment") and hparams.get("cache_features"):
        raise RecipeError("`augment` and `cache_features` exclude each other: set one to False")
    stage_folders(hparams)
    init_distributed(run_opts)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )

    main_only(prepare_data, hparams=hparams)
    teacher = prepare_models(hparams)
    brain_class = BRAINS[stage]
    if if_main_process():
        write_stage_record(
            hparams["output_folder"],
            stage,
            hparams["save_folder"],
            brain_class.best_key,
            teacher,
        )
    datasets = dataio_prepare(hparams)
    loaders = loader_kwargs(hparams, datasets)

    brain = brain_class(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=loaders["train"],
        valid_loader_kwargs=loaders["valid"],
    )
    brain.evaluate(datasets["test"], min_key=brain.best_key, test_loader_kwargs=loaders["test"])
    ddp_barrier()
    if stage == "joint" and hparams.get("wavenext_folder"):
        main_only(
            export_stream_codec,
            joint_folder=hparams["output_folder"],
            wavenext_folder=hparams["wavenext_folder"],
            export_folder=hparams["export_folder"],
        )


def main(argv: Sequence[str]) -> int:
    """Entry point: problems the user can fix end with one line and exit status 1."""
    return run_recipe(run, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
