#!/usr/bin/env python3
"""Recipe for speech enhancement with FocalCodec tokens (VoiceBank-DEMAND).

A probe of the tokens for generation: a Conformer encoder reads the tokens of
the noisy utterance and predicts, frame by frame, the tokens of the clean one
(cross-entropy); the codec decodes the predicted tokens back to speech, scored
with DNSMOS, dWER and speaker similarity against the clean reference.

To run this recipe:
> python train.py hparams/train.yaml --data_folder /path/to/VoiceBank

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import infer_device
from voicebank_prepare import prepare_voicebank

from speechbrain_focalcodec.probes.datasets import token_datasets
from speechbrain_focalcodec.probes.generation import TokenGenerationBrain
from speechbrain_focalcodec.training.distributed import end_distributed, init_distributed, on_main


class Enhancement(TokenGenerationBrain):
    """Predicts clean tokens from noisy tokens."""

    def compute_forward(self, batch, stage):
        """Noisy tokens -> embeddings -> Conformer -> log-probabilities of clean tokens."""
        batch = batch.to(self.device)
        toks, toks_lens = self.hparams.batch_tokenizer(batch, "noisy_wav")
        embs, _ = self.modules.embedding(toks)
        hidden = self.modules.encoder.encode(embs, toks_lens)
        return self.hparams.log_softmax(self.modules.head(hidden)), toks_lens

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy against the clean tokens; token error rate; decoding in test."""
        log_probs, toks_lens = predictions
        clean_toks, _ = self.hparams.batch_tokenizer(batch, "clean_wav")
        num_toks = min(log_probs.shape[1], clean_toks.shape[1])
        log_probs, clean_toks = log_probs[:, :num_toks], clean_toks[:, :num_toks]
        loss = self.hparams.compute_cost(log_probs, clean_toks, length=toks_lens)
        if stage != sb.Stage.TRAIN:
            self.token_errors.append(batch.id, log_probs, clean_toks, toks_lens)
        if stage == sb.Stage.TEST:
            ref_sig, ref_lens = batch.clean_wav_sig
            self.score_generated(batch.id, log_probs.argmax(-1), toks_lens, ref_sig, ref_lens)
        return loss


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
    on_main(
        prepare_voicebank,
        **{
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["save_folder"],
            "valid_speakers": hparams["valid_speakers"],
            "skip_prep": hparams["skip_prep"],
        },
    )
    datasets = token_datasets(
        {name: hparams[f"{name}_csv"] for name in ("train", "valid", "test")},
        hparams["tokenizer"],
        ["noisy_wav", "clean_wav"],
        tokens_folder=hparams["tokens_folder"] if hparams["extract_tokens"] else None,
        audio_splits={"test"},
        batch_size=hparams["extraction_batch_size"],
        device=run_opts.get("device") or infer_device(),
        sorting=hparams["sorting"],
    )
    hparams["train_dataloader_opts"]["shuffle"] = hparams["sorting"] == "random"
    suffix = "toks" if hparams["extract_tokens"] else "sig"
    keys = ["id", f"noisy_wav_{suffix}", f"clean_wav_{suffix}"]
    for name, dataset in datasets.items():
        dataset.set_output_keys(keys + (["clean_wav_sig"] if name == "test" else []))

    brain = Enhancement(
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
        datasets["test"], min_key="TER", test_loader_kwargs=hparams["test_dataloader_opts"]
    )
    end_distributed()  # a torchrun worker exits here (see training/distributed.py)
