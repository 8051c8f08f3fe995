"""Shared stages of the recipes that generate FocalCodec tokens (enhancement,
separation, text-to-speech): token error rate in validation and test,
decoding with the codec and model-based speech metrics in test.

Subclasses implement ``compute_forward`` and ``compute_objectives``, feed
``self.token_errors`` (``append(ids, log_probs, targets, lens)``) outside
training and call ``score_generated`` in test. Hyperparameters used:
``tokenizer``, ``token_error_stats``, ``metrics``, ``sample_rate``,
``save_audio``, ``audio_folder``, ``lr_annealing``, ``train_logger``,
``epoch_counter``.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List

import speechbrain as sb
from speechbrain.utils.distributed import if_main_process
from torch import Tensor

from speechbrain_focalcodec.evaluation.generated_speech import (
    GeneratedSpeechMetrics,
    decode_tokens,
    save_signals,
)

__all__ = ["TokenGenerationBrain"]


class TokenGenerationBrain(sb.Brain):
    """Brain of a model that outputs codec tokens, scored as speech in test."""

    def score_generated(
        self,
        ids: List[str],
        toks: Tensor,
        toks_lens: Tensor,
        ref_sig: Tensor,
        ref_lens: Tensor,
        aligned: bool = True,
    ) -> Tensor:
        """Decodes generated tokens, scores them against references, saves them.

        Arguments
        ---------
        ids : list of str
            Names of the generated utterances.
        toks : torch.Tensor
            Generated tokens ``[batch, tokens]``.
        toks_lens : torch.Tensor
            Their relative lengths.
        ref_sig : torch.Tensor
            Reference waveforms ``[batch, samples]`` at the codec's input rate.
        ref_lens : torch.Tensor
            Their relative lengths.
        aligned : bool
            Whether the tokens are frame-aligned with the references
            (enhancement, separation), or of their own durations (synthesis).

        Returns
        -------
        hyp_sig : torch.Tensor
            The decoded waveforms (aligned with the references if ``aligned``).
        """
        codec = self.hparams.tokenizer.codec
        if aligned:
            hyp_sig = decode_tokens(codec, toks, toks_lens, ref_sig.shape[1])
            hyp_lens = ref_lens
            self.speech_metrics.append(ids, hyp_sig, ref_sig, ref_lens)
        else:
            hyp_sig, hyp_lens = decode_tokens(codec, toks, toks_lens), toks_lens
            self.speech_metrics.append(ids, hyp_sig, ref_sig, ref_lens, hyp_lens=hyp_lens)
        if self.hparams.save_audio and if_main_process():
            save_signals(self.hparams.audio_folder, ids, hyp_sig, hyp_lens, codec.sample_rate_input)
        return hyp_sig

    def on_stage_start(self, stage, epoch=None):
        """Token error rate in validation and test; speech metrics in test."""
        if stage != sb.Stage.TRAIN:
            self.token_errors = self.hparams.token_error_stats()
        if stage == sb.Stage.TEST:
            self.speech_metrics = GeneratedSpeechMetrics(
                self.hparams.metrics, self.hparams.tokenizer.codec.sample_rate_input
            )

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, anneals the learning rate and keeps the best checkpoint (TER)."""
        stats = {"loss": stage_loss}
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        stats["TER"] = 100 * self.token_errors.summarize("average")
        if stage == sb.Stage.VALID:
            old_lr, new_lr = self.hparams.lr_annealing(stats["loss"])
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": old_lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(meta={"TER": stats["TER"]}, min_keys=["TER"])
        else:
            stats.update(self.speech_metrics.summarize())
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
