#!/usr/bin/env python3
"""Recipe for speaker identification on FocalCodec tokens (LibriSpeech).

A probe of how much speaker information the tokens keep: token embedding
(initialised from the codec's BSQ codebook) -> 2-layer BiLSTM -> statistics
pooling -> linear classifier over the 1172 speakers of LibriSpeech
train-clean-100 + train-clean-360. Error rate on held-out utterances.

To run this recipe:
> python train.py hparams/train.yaml --data_folder /path/to/LibriSpeech

Authors
 * speechbrain-focalcodec developers 2026
"""

import os
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from librispeech_prepare import prepare_librispeech, split_by_speaker
from speechbrain.utils.distributed import infer_device

from speechbrain_focalcodec.probes.classification import UtteranceClassifier, add_label_pipeline
from speechbrain_focalcodec.probes.datasets import token_datasets
from speechbrain_focalcodec.training.distributed import end_distributed, init_distributed, on_main

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    init_distributed(run_opts)  # destroyed by end_distributed or at exit
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    save_folder = hparams["save_folder"]
    on_main(
        prepare_librispeech,
        **{
            "data_folder": hparams["data_folder"],
            "save_folder": save_folder,
            "splits": hparams["splits"],
            "skip_prep": hparams["skip_prep"],
        },
    )
    on_main(
        split_by_speaker,
        **{
            "csv_files": [os.path.join(save_folder, f"{split}.csv") for split in hparams["splits"]],
            "save_folder": save_folder,
            "ratios": hparams["split_ratios"],
            "seed": hparams["seed"],
        },
    )
    datasets = token_datasets(
        {name: hparams[f"{name}_csv"] for name in ("train", "valid", "test")},
        hparams["tokenizer"],
        ["wav"],
        tokens_folder=hparams["tokens_folder"] if hparams["extract_tokens"] else None,
        batch_size=hparams["extraction_batch_size"],
        device=run_opts.get("device") or infer_device(),
        sorting=hparams["sorting"],
    )
    hparams["train_dataloader_opts"]["shuffle"] = hparams["sorting"] == "random"
    add_label_pipeline(
        datasets,
        "spk_id",
        hparams["label_encoder"],
        os.path.join(save_folder, "label_encoder.txt"),
    )
    toks_key = "wav_toks" if hparams["extract_tokens"] else "wav_sig"
    sb.dataio.dataset.set_output_keys(list(datasets.values()), ["id", toks_key, "label_encoded"])

    brain = UtteranceClassifier(
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
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"], min_key="error_rate", test_loader_kwargs=hparams["test_dataloader_opts"]
    )
    end_distributed()  # a torchrun worker exits here (see training/distributed.py)
