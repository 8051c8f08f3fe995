#!/usr/bin/env python3
"""Recipe for training FocalCodec on LibriTTS or on any folder of audio files.

FocalCodec trains in two stages on the features of a frozen WavLM encoder
(first 6 layers of WavLM-large):

* stage 1 (``hparams/stage1*.yaml``): compressor + binary spherical
  quantizer + decompressor reconstruct the features (``QuantizerBrain``);
* stage 2 (``hparams/stage2.yaml``): the Vocos decoder resynthesizes speech
  from the continuous features, as a GAN (``DecoderBrain``).

The stages are independent (they can run in parallel, on different
machines). Given ``--other_stage_folder``, the end of a stage combines both
into one pretrained codec directory (``speechbrain_focalcodec.training.export``).
What is not specific to this recipe (data preparation, encoder weights, the
Brains' common parts, checkpointing, threads, errors, distributed runs) lives in
``speechbrain_focalcodec.training``.

To run the recipe:
> python train.py hparams/stage1.yaml --data_folder <LibriTTS>
> python train.py hparams/stage2.yaml --data_folder <LibriTTS> \
      --other_stage_folder results/stage1_50hz/0
Any folder of audio files: add ``--dataset folder``. CPU threads: ``--threads N``.
Several GPUs: ``torchrun --nproc_per_node=<N> train.py ...``.

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys
from typing import Any, Dict, Sequence

import speechbrain as sb
from speechbrain.utils.distributed import ddp_barrier

from speechbrain_focalcodec.training.dataio import dataio_prepare, loader_kwargs
from speechbrain_focalcodec.training.decoder_brain import DecoderBrain
from speechbrain_focalcodec.training.distributed import init_distributed
from speechbrain_focalcodec.training.export import export_codec
from speechbrain_focalcodec.training.quantizer_brain import QuantizerBrain
from speechbrain_focalcodec.training.runner import (
    RecipeError,
    load_recipe_hparams,
    main_only,
    prepare_data,
    run_recipe,
    setup_frozen_encoder,
)

BRAINS = {1: QuantizerBrain, 2: DecoderBrain}


def export_if_possible(hparams: Dict[str, Any]) -> None:
    """Exports the codec if the other stage's folder was given."""
    other = hparams.get("other_stage_folder")
    if not other:
        return
    folders = {hparams["stage"]: hparams["output_folder"], 3 - hparams["stage"]: other}
    export_codec(folders[1], folders[2], hparams["export_folder"])


def run(argv: Sequence[str]) -> None:
    """Trains one stage; see the module docstring."""
    hparams_file, run_opts, overrides, hparams = load_recipe_hparams(argv)
    if hparams.get("stage") not in BRAINS:
        raise RecipeError(f"{hparams_file} must set `stage` to 1 or 2")
    init_distributed(run_opts)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )

    main_only(prepare_data, hparams=hparams)
    setup_frozen_encoder(hparams)
    datasets = dataio_prepare(hparams)
    loaders = loader_kwargs(hparams, datasets)

    brain = BRAINS[hparams["stage"]](
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
    main_only(export_if_possible, hparams=hparams)


def main(argv: Sequence[str]) -> int:
    """Entry point: problems the user can fix end with one line and exit status 1."""
    return run_recipe(run, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
