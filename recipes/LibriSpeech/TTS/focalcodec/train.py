#!/usr/bin/env python3
"""Recipe for text-to-speech with FocalCodec tokens (LibriSpeech).

A probe of the tokens for generative modelling: a decoder-only transformer
reads the speaker's x-vector and the characters of the text, then predicts
the codec tokens one by one (cross-entropy, teacher forcing). In test, tokens
are sampled with top-p until EOS, decoded with the codec and scored with
UTMOS, dWER and speaker similarity against the reference recording.

To run this recipe:
> python train.py hparams/train.yaml --data_folder /path/to/LibriSpeech

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from librispeech_prepare import prepare_librispeech
from speechbrain.utils.distributed import infer_device

from speechbrain_focalcodec.probes.datasets import token_datasets
from speechbrain_focalcodec.probes.generation import TokenGenerationBrain
from speechbrain_focalcodec.training.distributed import end_distributed, init_distributed, on_main


class TextToSpeech(TokenGenerationBrain):
    """Predicts codec tokens from text and a speaker embedding."""

    speaker_cache = {}

    def speaker_embeddings(self, batch):
        """x-vectors of the batch's recordings, computed once per utterance."""
        missing = [utt_id not in self.speaker_cache for utt_id in batch.id]
        if any(missing):
            sig, lens = batch.wav_sig
            encoder = self.hparams.speaker_encoder.to(self.device)
            embs, _ = encoder(sig, lens)
            for utt_id, emb in zip(batch.id, embs):
                self.speaker_cache[utt_id] = emb.cpu()
        return torch.stack([self.speaker_cache[utt_id] for utt_id in batch.id]).to(self.device)

    def compute_forward(self, batch, stage):
        """Teacher-forced log-probabilities of the tokens and EOS."""
        batch = batch.to(self.device)
        toks, toks_lens = self.hparams.batch_tokenizer(batch, "wav")
        chars, char_lens = batch.chars
        spk = self.speaker_embeddings(batch)
        log_probs, lens = self.modules.model(spk, chars, char_lens, toks, toks_lens)
        return log_probs, lens, toks, toks_lens, spk

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy; token error rate; sampling, decoding and scoring in test."""
        log_probs, lens, toks, toks_lens, spk = predictions
        targets = self.modules.model.targets(toks, toks_lens)
        loss = self.hparams.compute_cost(log_probs, targets, length=lens)
        if stage != sb.Stage.TRAIN:
            self.token_errors.append(batch.id, log_probs, targets, lens)
        if stage == sb.Stage.TEST:
            chars, char_lens = batch.chars
            max_tokens = math.ceil(self.hparams.max_length_ratio * toks.shape[1])
            gen, gen_lens = self.modules.model.generate(
                spk,
                chars,
                char_lens,
                max_tokens,
                top_p=self.hparams.top_p,
                temperature=self.hparams.temperature,
            )
            ref_sig, ref_lens = batch.wav_sig
            self.score_generated(batch.id, gen, gen_lens, ref_sig, ref_lens, aligned=False)
        return loss


def dataio_prepare(hparams, text_tokenizer, device):
    """Token datasets (with waveforms, for the speaker prompt) and characters."""
    datasets = token_datasets(
        {name: hparams[f"{name}_csv"] for name in ("train", "valid", "test")},
        hparams["tokenizer"],
        ["wav"],
        tokens_folder=hparams["tokens_folder"] if hparams["extract_tokens"] else None,
        audio_splits={"train", "valid", "test"},
        batch_size=hparams["extraction_batch_size"],
        device=device,
        sorting=hparams["sorting"],
    )
    hparams["train_dataloader_opts"]["shuffle"] = hparams["sorting"] == "random"

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("chars")
    def text_pipeline(wrd):
        """Encodes a transcript into the ids of the SentencePiece text tokenizer.

        Arguments
        ---------
        wrd : str
            Transcript.

        Returns
        -------
        chars : torch.LongTensor
            Token ids, shape ``[tokens]``.
        """
        return torch.LongTensor(text_tokenizer.sp.encode_as_ids(wrd))

    sb.dataio.dataset.add_dynamic_item(list(datasets.values()), text_pipeline)
    keys = ["id", "wrd", "chars", "wav_sig"] + (["wav_toks"] if hparams["extract_tokens"] else [])
    sb.dataio.dataset.set_output_keys(list(datasets.values()), keys)
    return datasets


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
        prepare_librispeech,
        **{
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["save_folder"],
            "splits": hparams["train_splits"] + hparams["valid_splits"] + hparams["test_splits"],
            "skip_prep": hparams["skip_prep"],
        },
    )
    on_main(
        sb.dataio.dataio.merge_csvs,
        **{
            "data_folder": hparams["save_folder"],
            "csv_lst": [f"{split}.csv" for split in hparams["train_splits"]],
            "merged_csv": "train.csv",
        },
    )
    text_tokenizer = hparams["text_tokenizer"]()
    datasets = dataio_prepare(hparams, text_tokenizer, run_opts.get("device") or infer_device())

    brain = TextToSpeech(
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
