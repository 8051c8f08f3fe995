"""Stage 2: the Vocos decoder, trained as a GAN on continuous encoder features.

Features of whole utterances are computed by the frozen encoder, then a
random segment of ``segment_size`` samples (7040 in the paper: 22 feature
frames) is cut from each utterance together with its features, so the
decoder learns on features computed with the context it has at inference.

Each step first updates the HiFi-GAN discriminators (multi-period and
multi-scale, hinge loss) on real and generated segments, then the decoder
with SpeechBrain's ``GeneratorLoss``: hinge adversarial loss, feature
matching and 80-bin log-mel L1. Optionally (``adversarial_start_step``, 0 in
the paper configuration; Vocos's ``pretrain_mel_steps``), the first steps
train the decoder on the log-mel L1 alone, which spares the discriminators'
cost while the decoder learns the basics (the CPU demo uses it). Both
optimizers decay their learning rate exponentially, by ``lr_decay`` per
epoch. Validation and test decode whole
utterances and report the log-mel L1 (masked to each utterance) and, when
their models load, UTMOS / dWER / speaker similarity.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Tuple

import speechbrain as sb
import torch
from speechbrain.nnet.schedulers import update_learning_rate
from torch import Tensor, nn

from speechbrain_focalcodec.ops.padding import lens_to_counts
from speechbrain_focalcodec.training.codec_brain import CodecStageBrain

__all__ = ["DecoderBrain", "random_segments"]


def random_segments(
    sig: Tensor, feats: Tensor, feats_lens: Tensor, num_frames: int, hop_length: int
) -> Tuple[Tensor, Tensor]:
    """Cuts aligned random segments of features and waveforms.

    Frame ``t`` of the features covers samples ``t * hop_length`` onwards, so
    frames ``[s, s + num_frames)`` go with samples
    ``[s * hop_length, (s + num_frames) * hop_length)``.

    Arguments
    ---------
    sig : torch.Tensor
        Waveforms, ``[batch, samples]``.
    feats : torch.Tensor
        Their features, ``[batch, frames, dim]``.
    feats_lens : torch.Tensor
        Relative lengths of the features.
    num_frames : int
        Frames per segment.
    hop_length : int
        Samples per frame.

    Returns
    -------
    sig : torch.Tensor
        ``[batch, num_frames * hop_length]``.
    feats : torch.Tensor
        ``[batch, num_frames, dim]``.

    Example
    -------
    >>> sig = torch.arange(1000.0)[None].repeat(2, 1)
    >>> feats = torch.arange(10.0)[None, :, None].repeat(2, 1, 3)
    >>> seg_sig, seg_feats = random_segments(sig, feats, torch.tensor([1.0, 0.5]), 4, 100)
    >>> seg_sig.shape, seg_feats.shape
    (torch.Size([2, 400]), torch.Size([2, 4, 3]))
    >>> bool((seg_sig[:, 0] == 100 * seg_feats[:, 0, 0]).all())
    True
    >>> float(seg_feats[1, -1, 0]) < 5
    True
    """
    counts = lens_to_counts(feats_lens, feats.shape[1])
    short = (counts < num_frames).nonzero().flatten().tolist()
    if short or sig.shape[1] < feats.shape[1] * hop_length:
        raise ValueError(
            f"Utterances {short} give fewer than {num_frames} feature frames: raise "
            "`train_min_duration` above the segment duration plus the encoder's receptive field"
        )
    starts = (torch.rand(counts.shape, device=feats.device) * (counts - num_frames + 1)).long()
    frames = starts[:, None] + torch.arange(num_frames, device=feats.device)
    feats = feats.gather(1, frames[..., None].expand(-1, -1, feats.shape[-1]))
    samples = starts[:, None] * hop_length + torch.arange(
        num_frames * hop_length, device=sig.device
    )
    return sig.gather(1, samples), feats


def _halves(outputs: List) -> Tuple[List, List]:
    """Splits discriminator outputs of ``cat([real, fake])`` into (real, fake)."""
    if isinstance(outputs, Tensor):
        return tuple(outputs.chunk(2))
    pairs = [_halves(item) for item in outputs]
    return [real for real, _ in pairs], [fake for _, fake in pairs]


class DecoderBrain(CodecStageBrain):
    """Trains ``modules.decoder`` against ``modules.discriminator``.

    Hyperparameters used: ``encoder``, ``segment_size``, ``hop_length``,
    ``generator_loss`` (SpeechBrain's ``GeneratorLoss``), ``discriminator_loss``
    (its ``DiscriminatorLoss``), ``mel_loss`` (``MelL1Loss``), ``lr``,
    ``lr_decay``, ``adversarial_start_step``, plus those of ``CodecStageBrain``.
    """

    best_key = "mel_l1"

    def init_optimizers(self) -> None:
        """One optimizer for the decoder, one for the discriminators."""
        if self.grad_accumulation_factor != 1:
            raise ValueError("Stage 2 does not support grad_accumulation_factor != 1")
        self.decoder_optimizer = self.opt_class(self.modules.decoder.parameters())
        self.discriminator_optimizer = self.opt_class(self.modules.discriminator.parameters())
        self.optimizers_dict = {
            "decoder_optimizer": self.decoder_optimizer,
            "discriminator_optimizer": self.discriminator_optimizer,
        }
        if self.checkpointer is not None:
            for name, optimizer in self.optimizers_dict.items():
                self.checkpointer.add_recoverable(name, optimizer)

    @property
    def _raw_discriminator(self) -> nn.Module:
        """The discriminators without their DDP wrapper (for the decoder's update)."""
        return getattr(self.modules.discriminator, "module", self.modules.discriminator)

    def fit_batch(self, batch) -> Tensor:
        """One discriminator update, then one decoder update.

        Arguments
        ---------
        batch : PaddedBatch
            Batch with ``sig``.

        Returns
        -------
        loss : torch.Tensor
            The decoder's loss (detached).
        """
        batch = batch.to(self.device)
        sig, lens = batch.sig
        with self.training_ctx:
            feats, feats_lens = self.encode(batch.id, sig, lens)
            num_frames = self.hparams.segment_size // self.hparams.hop_length
            sig, feats = random_segments(
                sig, feats, feats_lens, num_frames, self.hparams.hop_length
            )
            rec, _ = self.modules.decoder(feats)
            sig, rec = sig[:, None], rec[:, None]
        if self.optimizer_step < self.hparams.adversarial_start_step:
            return self._fit_mel_only(sig, rec)

        with self.training_ctx:
            # Discriminators: one pass over real and generated segments together.
            scores, _ = self.modules.discriminator(torch.cat([sig, rec.detach()]))
            scores_real, scores_fake = _halves(scores)
            d_loss = self.hparams.discriminator_loss(scores_fake, scores_real)["D_loss"]
        self._update(d_loss, self.discriminator_optimizer, self.modules.discriminator)

        with self.training_ctx:
            # Decoder: the discriminators' weights are fixed here, so their DDP
            # wrapper (which would wait for their gradients) is bypassed.
            scores, features = self._raw_discriminator(torch.cat([sig, rec]))
            _, scores_fake = _halves(scores)
            features_real, features_fake = _halves(features)
            losses = self.hparams.generator_loss(
                sb.Stage.TRAIN,
                y_hat=rec,
                y=sig,
                scores_fake=scores_fake,
                feats_fake=features_fake,
                feats_real=[[f.detach() for f in real] for real in features_real],
            )
        self._update(losses["G_loss"], self.decoder_optimizer, self.modules.decoder)
        self.scaler.update()
        self.optimizer_step += 1
        self.accumulate(
            mel_l1=losses["G_l1_spec_loss"].detach(),
            adversarial_loss=losses["G_mse_fake_loss"].detach(),
            feature_matching_loss=losses["G_feat_match_loss"].detach(),
            discriminator_loss=d_loss.detach(),
        )
        return losses["G_loss"].detach().cpu()

    def _fit_mel_only(self, sig: Tensor, rec: Tensor) -> Tensor:
        """Warm-up step before ``adversarial_start_step``: the log-mel L1 alone
        (the generator loss without its adversarial terms); the discriminators wait."""
        with self.training_ctx:
            losses = self.hparams.generator_loss(sb.Stage.TRAIN, y_hat=rec, y=sig)
        self._update(losses["G_loss"], self.decoder_optimizer, self.modules.decoder)
        self.scaler.update()
        self.optimizer_step += 1
        self.accumulate(mel_l1=losses["G_l1_spec_loss"].detach())
        return losses["G_loss"].detach().cpu()

    def _update(self, loss: Tensor, optimizer: torch.optim.Optimizer, module: nn.Module) -> None:
        """Backward pass and optimizer step on ``module``'s parameters only.

        As in ``Brain.fit_batch``, a non-finite loss counts towards
        ``nonfinite_patience`` and, with ``skip_nonfinite_grads``, its
        non-finite gradients are dropped so the step changes nothing (the
        backward pass still runs: DDP processes must stay in step).
        """
        params = [p for p in module.parameters() if p.requires_grad]
        scaled = self.scaler.scale(loss)
        self.check_loss_isfinite(scaled)
        optimizer.zero_grad(set_to_none=True)
        scaled.backward(inputs=params)
        self.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        if not self.scaler.is_enabled() and self.skip_nonfinite_grads:
            for param in params:
                if param.grad is not None and not torch.isfinite(param.grad).all():
                    param.grad = None
        self.scaler.step(optimizer)
        optimizer.zero_grad(set_to_none=True)

    def compute_forward(self, batch, stage: sb.Stage) -> Tuple[Tensor, Tensor, Tensor]:
        """Decodes whole utterances (validation and test).

        Arguments
        ---------
        batch : PaddedBatch
            Batch with ``sig``.
        stage : sb.Stage
            VALID or TEST.

        Returns
        -------
        rec : torch.Tensor
            Decoded waveforms, ``[batch, frames * hop_length]``.
        ref : torch.Tensor
            The inputs cut to the same length.
        lens : torch.Tensor
            Relative lengths of both.
        """
        batch = batch.to(self.device)
        sig, lens = batch.sig
        feats, feats_lens = self.encode(batch.id, sig, lens)
        rec, rec_lens = self.modules.decoder(feats, feats_lens)
        return rec, sig[:, : rec.shape[1]], rec_lens

    def compute_objectives(self, predictions, batch, stage: sb.Stage) -> Tensor:
        """Log-mel L1 between decoded and input utterances (validation and test).

        Arguments
        ---------
        predictions : tuple
            Output of ``compute_forward``.
        batch : PaddedBatch
            The batch.
        stage : sb.Stage
            VALID or TEST.

        Returns
        -------
        loss : torch.Tensor
        """
        rec, ref, lens = predictions
        mel_l1 = self.hparams.mel_loss(rec.float(), ref.float(), lens)
        self.accumulate(mel_l1=mel_l1)
        if self.resynthesis_wanted(stage):
            self.score_resynthesis(batch.id, rec, ref, lens, stage)
        return mel_l1

    def end_of_epoch(self, epoch: int, valid_stats: dict) -> float:
        """Exponential learning-rate decay of both optimizers.

        Arguments
        ---------
        epoch : int
            The epoch that ended.
        valid_stats : dict
            Validation statistics (unused).

        Returns
        -------
        lr : float
            The rate used during the epoch.
        """
        lr = self.hparams.lr * self.hparams.lr_decay ** (epoch - 1)
        for optimizer in self.optimizers_dict.values():
            update_learning_rate(optimizer, lr * self.hparams.lr_decay)
        return lr
