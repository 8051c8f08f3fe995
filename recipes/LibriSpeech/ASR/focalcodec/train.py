#!/usr/bin/env python3
"""Recipe for a CTC speech recognizer on FocalCodec tokens (LibriSpeech).

A probe of how much linguistic content the tokens keep: token embedding
(initialised from the codec's BSQ codebook) -> 2-layer BiLSTM -> CTC over
characters. Greedy CTC decoding; WER on test-clean.

To run this recipe:
> python train.py hparams/train.yaml --data_folder /path/to/LibriSpeech

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from librispeech_prepare import prepare_librispeech
from speechbrain.utils.distributed import if_main_process, infer_device

from speechbrain_focalcodec.probes.datasets import token_datasets
from speechbrain_focalcodec.training.distributed import end_distributed, init_distributed, on_main


class ASR(sb.Brain):
    """CTC recognizer reading FocalCodec tokens."""

    def compute_forward(self, batch, stage):
        """Tokens -> embeddings -> BiLSTM -> CTC log-probabilities."""
        batch = batch.to(self.device)
        toks, toks_lens = self.hparams.batch_tokenizer(batch, "wav")
        embs, _ = self.modules.embedding(toks)
        hidden, _ = self.modules.encoder(embs, lengths=toks_lens)
        p_ctc = self.hparams.log_softmax(self.modules.ctc_lin(hidden))
        return p_ctc, toks_lens

    def compute_objectives(self, predictions, batch, stage):
        """CTC loss; greedy decoding and error rates outside training."""
        p_ctc, toks_lens = predictions
        chars, char_lens = batch.chars
        loss = self.hparams.ctc_cost(p_ctc, chars, toks_lens, char_lens)
        if stage != sb.Stage.TRAIN:
            hyps = sb.decoders.ctc_greedy_decode(
                p_ctc, toks_lens, blank_id=self.hparams.blank_index
            )
            words = [self.text_tokenizer.sp.decode_ids(hyp).split() for hyp in hyps]
            targets = [text.split() for text in batch.wrd]
            self.wer_metric.append(batch.id, words, targets)
            self.cer_metric.append(batch.id, words, targets)
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Fresh error-rate trackers for validation and test."""
        if stage != sb.Stage.TRAIN:
            self.wer_metric = self.hparams.wer_computer()
            self.cer_metric = self.hparams.cer_computer()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, anneals the learning rate and keeps the best checkpoint."""
        stats = {"loss": stage_loss}
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        stats["CER"] = self.cer_metric.summarize("error_rate")
        stats["WER"] = self.wer_metric.summarize("error_rate")
        if stage == sb.Stage.VALID:
            old_lr, new_lr = self.hparams.lr_annealing(stats["loss"])
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": old_lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(meta={"WER": stats["WER"]}, min_keys=["WER"])
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
            if if_main_process():
                with open(self.hparams.wer_file, "w", encoding="utf-8") as file:
                    self.wer_metric.write_stats(file)


def dataio_prepare(hparams, text_tokenizer, device):
    """Token datasets with the character targets of each transcript."""
    datasets = token_datasets(
        {name: hparams[f"{name}_csv"] for name in ("train", "valid", "test")},
        hparams["tokenizer"],
        ["wav"],
        tokens_folder=hparams["tokens_folder"] if hparams["extract_tokens"] else None,
        batch_size=hparams["extraction_batch_size"],
        device=device,
        sorting=hparams["sorting"],
    )
    hparams["train_dataloader_opts"]["shuffle"] = hparams["sorting"] == "random"

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("chars")
    def text_pipeline(wrd):
        """Encodes a transcript into the ids of the SentencePiece output tokenizer.

        Arguments
        ---------
        wrd : str
            Transcript.

        Returns
        -------
        chars : torch.LongTensor
            Token ids (the CTC targets), shape ``[tokens]``.
        """
        return torch.LongTensor(text_tokenizer.sp.encode_as_ids(wrd))

    sb.dataio.dataset.add_dynamic_item(list(datasets.values()), text_pipeline)
    keys = ["id", "wrd", "chars", "wav_toks" if hparams["extract_tokens"] else "wav_sig"]
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
    device = run_opts.get("device") or infer_device()
    datasets = dataio_prepare(hparams, text_tokenizer, device)

    asr_brain = ASR(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    asr_brain.text_tokenizer = text_tokenizer
    asr_brain.fit(
        asr_brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    asr_brain.evaluate(
        datasets["test"], min_key="WER", test_loader_kwargs=hparams["test_dataloader_opts"]
    )
    end_distributed()  # a torchrun worker exits here (see training/distributed.py)
