"""Stages ``bsq`` and ``joint`` of FocalCodec-Stream.

* ``StreamQuantizerBrain`` (stage ``bsq``): the causal compressor, binary
  spherical quantizer and decompressor learn to reconstruct the features of
  the frozen, distilled causal encoder (``QuantizerBrain``: squared L2 plus
  the BSQ entropy loss, NewBob annealing);
* ``JointBrain`` (stage ``joint``): the causal encoder, compressor,
  quantizer and decompressor, which now ends with the chunk-wise refiner,
  are fine-tuned together so that the decompressed features match the
  full-context teacher's (``hparams.encoder``, frozen): the decoder of stage
  ``wavenext``, trained on full-context features, then works on the causal
  codec's. Loss: squared L2 to the teacher's features plus the BSQ entropy
  loss; optional DropFreq/DropChunk augmentation of the training audio.

Given the ``wavenext`` stage's output (``wavenext_folder``), validation and
test also resynthesize speech with its decoder (24 kHz, resampled to the
input rate for UTMOS / dWER / speaker similarity).

Authors
 * speechbrain-focalcodec developers 2026
"""

import speechbrain as sb
import torch
import torchaudio

from speechbrain_focalcodec.training.distill_brain import DistillBrain
from speechbrain_focalcodec.training.quantizer_brain import (
    FeatureReconstruction,
    QuantizerBrain,
    match_frames,
    quantize_valid_frames,
)
from speechbrain_focalcodec.training.stage_inputs import load_stage_modules, teacher_of

__all__ = ["JointBrain", "StreamQuantizerBrain"]


class StreamQuantizerBrain(QuantizerBrain):
    """``QuantizerBrain`` monitored through the stage-``wavenext`` decoder.

    Hyperparameters used besides ``QuantizerBrain``'s: ``wavenext_folder``
    (optional), ``decoder`` and ``decoder_sample_rate``.
    """

    def _load_decoder(self) -> None:
        folder = getattr(self.hparams, "wavenext_folder", None)
        if folder and not getattr(self, "_decoder_loaded", False):
            # Refused if the decoder learned from another teacher than this run's.
            teacher = teacher_of(self.hparams.output_folder)
            load_stage_modules(folder, "wavenext", {"decoder": self.hparams.decoder}, teacher)
            self.hparams.decoder.to(self.device).eval().requires_grad_(False)
            self._decoder_loaded = True

    def _score(self, batch, out: FeatureReconstruction, stage: sb.Stage) -> None:
        if not getattr(self, "_decoder_loaded", False):
            return
        sig, _ = batch.sig
        hyp_sig, _ = self.hparams.decoder(out.qfeats, out.feats_lens)
        hyp_sig = torchaudio.functional.resample(
            hyp_sig, self.hparams.decoder_sample_rate, self.hparams.sample_rate
        )
        num_samples = min(hyp_sig.shape[1], sig.shape[1])
        self.score_resynthesis(
            batch.id, hyp_sig[:, :num_samples], sig[:, :num_samples], out.feats_lens, stage
        )


class JointBrain(StreamQuantizerBrain):
    """Fine-tunes ``modules.causal_encoder``, ``compressor``, ``quantizer`` and
    ``decompressor`` against the frozen teacher ``hparams.encoder``."""

    augmented = DistillBrain.augmented

    def compute_forward(self, batch, stage: sb.Stage) -> FeatureReconstruction:
        """Teacher features, and the causal codec's decompressed features.

        Arguments
        ---------
        batch : PaddedBatch
            Batch with ``sig``.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        outputs : FeatureReconstruction
            ``feats`` are the teacher's features, ``qfeats`` the codec's.
        """
        batch = batch.to(self.device)
        sig, lens = batch.sig
        if stage == sb.Stage.TRAIN and getattr(self.hparams, "augment", False):
            sig, lens = self.augmented(sig, lens, stage)
            with torch.no_grad():
                feats, feats_lens = self.hparams.encoder(sig, lens)
        else:
            feats, feats_lens = self.encode(batch.id, sig, lens)
        causal_feats, causal_lens = self.modules.causal_encoder(sig, lens)
        lats, lats_lens = self.modules.compressor(causal_feats, causal_lens)
        codes, toks, entropy_loss = quantize_valid_frames(self.modules.quantizer, lats, lats_lens)
        qfeats, _ = self.modules.decompressor(codes, lats_lens)
        qfeats = match_frames(qfeats, feats.shape[1])
        return FeatureReconstruction(feats, feats_lens, qfeats, toks, lats_lens, entropy_loss)
