"""Causal distillation stages of FocalCodec-Stream: positional embedding, then encoder.

The full-context WavLM-6 (``hparams.encoder``, frozen) is the teacher:

* ``PosEmbDistillBrain`` (stage ``posemb``) trains a causal convolutional
  positional embedding (``modules.posemb``) on the teacher's own positional
  embedding: same input (the teacher's projected frames), squared L2 between
  the outputs; the rest of the encoder is not involved;
* ``EncoderDistillBrain`` (stage ``wavlm``) trains the causal WavLM-6
  (``modules.causal_encoder``, chunked attention with lookahead) to give the
  teacher's output at every transformer layer: the loss is
  ``sum_l w_l * MSE_l / num_layers`` with the per-layer weights
  ``layer_weights`` (0.5 ... 1.0 in the paper's recipe). The causal
  convolutions give up to one frame more than the teacher's: the student's
  outputs are cut to the teacher's frames, as in the paper's recipe.

Every MSE counts the valid frames of each utterance only
(``feature_loss``: ``losses.masked_mse_loss``). Training inputs can be augmented
(``augment: True``: ``hparams.augmentation``, e.g. SpeechBrain's DropFreq +
DropChunk), teacher and student seeing the same augmented audio. The
learning rate is annealed with NewBob on the validation loss.

Authors
 * speechbrain-focalcodec developers 2026
"""

from contextlib import contextmanager
from typing import Iterator, List, Sequence, Tuple

import speechbrain as sb
import torch
from torch import Tensor, nn

from speechbrain_focalcodec.training.codec_brain import CodecStageBrain
from speechbrain_focalcodec.training.quantizer_brain import match_frames

__all__ = ["DistillBrain", "EncoderDistillBrain", "PosEmbDistillBrain", "recorded_calls"]


@contextmanager
def recorded_calls(modules: Sequence[nn.Module]) -> Iterator[List[Tuple[Tensor, Tensor]]]:
    """Records ``(first input, output)`` of every call of ``modules`` in the block.

    Arguments
    ---------
    modules : sequence of torch.nn.Module
        Modules to watch.

    Yields
    ------
    calls : list
        ``(input, output)`` pairs in call order.

    Example
    -------
    >>> layers = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    >>> with recorded_calls(list(layers)) as calls:
    ...     y = layers(torch.ones(1, 2))
    >>> len(calls), torch.equal(calls[-1][1], y)
    (2, True)
    """
    calls: List[Tuple[Tensor, Tensor]] = []
    handles = [
        module.register_forward_hook(lambda _, args, out: calls.append((args[0], out)))
        for module in modules
    ]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def unwrapped(module: nn.Module) -> nn.Module:
    """``module`` without its DDP wrapper."""
    return getattr(module, "module", module)


class DistillBrain(CodecStageBrain):
    """Common parts of the distillation stages: augmentation and NewBob annealing.

    Hyperparameters used: ``encoder`` (the frozen teacher), ``feature_loss``,
    ``augment``, ``augmentation``, ``lr_annealing``, plus those of
    ``CodecStageBrain``.
    """

    def augmented(self, sig: Tensor, lens: Tensor, stage: sb.Stage) -> Tuple[Tensor, Tensor]:
        """Training batches through ``hparams.augmentation`` when ``augment`` is on.

        Arguments
        ---------
        sig : torch.Tensor
            Waveforms, ``[batch, samples]``.
        lens : torch.Tensor
            Relative lengths.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        sig : torch.Tensor
        lens : torch.Tensor
        """
        if stage == sb.Stage.TRAIN and getattr(self.hparams, "augment", False):
            return self.hparams.augmentation(sig, lens)
        return sig, lens


class PosEmbDistillBrain(DistillBrain):
    """Trains ``modules.posemb`` (causal) on the teacher's positional embedding."""

    best_key = "posemb_mse"

    def compute_forward(self, batch, stage: sb.Stage) -> Tuple[Tensor, Tensor, Tensor]:
        """Student and teacher positional embeddings of a batch.

        Arguments
        ---------
        batch : PaddedBatch
            Batch with ``sig``.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        hyp : torch.Tensor
            The student's embedding, ``[batch, frames, dim]``.
        target : torch.Tensor
            The teacher's.
        lens : torch.Tensor
            Relative lengths of both.
        """
        batch = batch.to(self.device)
        sig, lens = self.augmented(*batch.sig, stage)
        teacher = self.hparams.encoder
        with torch.no_grad(), recorded_calls([teacher.encoder.positional_embedding]) as calls:
            _, feats_lens = teacher(sig, lens)
        frames, target = calls[0]
        return self.modules.posemb(frames), target, feats_lens

    def compute_objectives(self, predictions, batch, stage: sb.Stage) -> Tensor:
        """Squared L2 between the embeddings, on valid frames.

        Arguments
        ---------
        predictions : tuple
            Output of ``compute_forward``.
        batch : PaddedBatch
            The batch.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        loss : torch.Tensor
        """
        hyp, target, lens = predictions
        loss = self.hparams.feature_loss(hyp, target, length=lens)
        self.accumulate(posemb_mse=loss.detach())
        return loss


class EncoderDistillBrain(DistillBrain):
    """Trains ``modules.causal_encoder`` on the teacher's layer outputs.

    Hyperparameters used besides ``DistillBrain``'s: ``layer_weights`` (one
    per transformer layer).
    """

    best_key = "layer_mse"

    def layer_outputs(self, encoder: nn.Module, sig: Tensor, lens: Tensor) -> Tuple[list, Tensor]:
        """Outputs of every transformer layer of ``encoder`` (called as given).

        Arguments
        ---------
        encoder : torch.nn.Module
            A WavLM, possibly wrapped by DDP.
        sig : torch.Tensor
            Waveforms.
        lens : torch.Tensor
            Relative lengths.

        Returns
        -------
        outputs : list of torch.Tensor
            ``[batch, frames, dim]`` each.
        lens : torch.Tensor
            Their relative lengths.
        """
        layers = list(unwrapped(encoder).encoder.layers)
        with recorded_calls(layers) as calls:
            _, feats_lens = encoder(sig, lens)
        return [out for _, out in calls], feats_lens

    def compute_forward(self, batch, stage: sb.Stage) -> Tuple[list, list, Tensor]:
        """Layer outputs of the student and of the teacher.

        Arguments
        ---------
        batch : PaddedBatch
            Batch with ``sig``.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        hyps : list of torch.Tensor
            The student's layer outputs.
        targets : list of torch.Tensor
            The teacher's.
        lens : torch.Tensor
            Relative lengths of all.
        """
        batch = batch.to(self.device)
        sig, lens = self.augmented(*batch.sig, stage)
        with torch.no_grad():
            targets, feats_lens = self.layer_outputs(self.hparams.encoder, sig, lens)
        hyps, _ = self.layer_outputs(self.modules.causal_encoder, sig, lens)
        # Causal convolutions give up to one frame more than the teacher's.
        hyps = [match_frames(hyp, target.shape[1]) for hyp, target in zip(hyps, targets)]
        return hyps, targets, feats_lens

    def compute_objectives(self, predictions, batch, stage: sb.Stage) -> Tensor:
        """Weighted mean of the per-layer MSEs, on valid frames.

        Arguments
        ---------
        predictions : tuple
            Output of ``compute_forward``.
        batch : PaddedBatch
            The batch.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        loss : torch.Tensor
        """
        hyps, targets, lens = predictions
        weights = list(self.hparams.layer_weights)
        if len(weights) != len(hyps):
            raise ValueError(
                f"`layer_weights` has {len(weights)} values for {len(hyps)} encoder layers"
            )
        loss = hyps[0].new_zeros(())
        stats = {}
        for index, (hyp, target, weight) in enumerate(zip(hyps, targets, weights)):
            mse = self.hparams.feature_loss(hyp, target, length=lens)
            loss = loss + weight * mse
            stats[f"mse_layer{index + 1}"] = mse.detach()
        loss = loss / len(weights)
        self.accumulate(layer_mse=loss.detach(), **stats)
        return loss
