"""Utterance classification on FocalCodec tokens: the Brain of the speaker
identification and emotion recognition probes.

The model is read from the hyperparameters: ``embedding`` (tokens ->
vectors), ``encoder`` (a recurrent network taking ``lengths``), ``pooling``
(statistics over valid frames), ``classifier`` and ``log_softmax``; the
target is the encoded ``label_field`` of the manifest.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Dict

import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.distributed import run_on_main

__all__ = ["UtteranceClassifier", "add_label_pipeline"]


class UtteranceClassifier(sb.Brain):
    """Classifies utterances from their tokens; error rate in validation and test."""

    def compute_forward(self, batch, stage):
        """Tokens -> embeddings -> encoder -> statistics pooling -> log-probabilities."""
        batch = batch.to(self.device)
        toks, toks_lens = self.hparams.batch_tokenizer(batch, "wav")
        embs, _ = self.modules.embedding(toks)
        hidden, _ = self.modules.encoder(embs, lengths=toks_lens)
        stats = self.hparams.pooling(hidden, lengths=toks_lens)
        return self.hparams.log_softmax(self.modules.classifier(stats))

    def compute_objectives(self, predictions, batch, stage):
        """Negative log-likelihood of the label; error rate outside training."""
        labels, _ = batch.label_encoded
        loss = self.hparams.compute_cost(predictions, labels)
        if stage != sb.Stage.TRAIN:
            self.error_metrics.append(batch.id, predictions, labels)
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Fresh error-rate tracker for validation and test."""
        if stage != sb.Stage.TRAIN:
            self.error_metrics = self.hparams.error_stats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, anneals the learning rate and keeps the best checkpoint."""
        stats = {"loss": stage_loss}
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        stats["error_rate"] = 100 * self.error_metrics.summarize("average")
        if stage == sb.Stage.VALID:
            old_lr, new_lr = self.hparams.lr_annealing(stats["loss"])
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": old_lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"error_rate": stats["error_rate"]}, min_keys=["error_rate"]
            )
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )


def add_label_pipeline(
    datasets: Dict[str, DynamicItemDataset],
    label_field: str,
    label_encoder: sb.dataio.encoder.CategoricalEncoder,
    encoder_file: str,
) -> None:
    """Adds ``label_encoded`` (the index of ``label_field``) to every dataset.

    The encoder is built from the train and valid splits (on the main
    process) and saved to ``encoder_file``, or loaded from it.

    Arguments
    ---------
    datasets : dict
        Split name -> dataset (``train`` and ``valid`` at least).
    label_field : str
        Manifest field of the label (``spk_id``, ``emo``...).
    label_encoder : CategoricalEncoder
        The encoder to fill.
    encoder_file : str
        Where the encoder is saved.
    """

    @sb.utils.data_pipeline.takes(label_field)
    @sb.utils.data_pipeline.provides("label_encoded")
    def label_pipeline(label):
        """Maps a label to its index in ``label_encoder``.

        Arguments
        ---------
        label : str
            The label (speaker id, emotion...).

        Returns
        -------
        label_encoded : torch.LongTensor
            Shape ``[1]``.
        """
        return torch.LongTensor([label_encoder.encode_label(label)])

    sb.dataio.dataset.add_dynamic_item(list(datasets.values()), label_pipeline)
    run_on_main(
        label_encoder.load_or_create,
        kwargs={
            "path": encoder_file,
            "from_didatasets": [datasets["train"], datasets["valid"]],
            "output_key": label_field,
        },
    )
    label_encoder.load_or_create(path=encoder_file)
