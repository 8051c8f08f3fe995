"""Stage 1: compressor + binary spherical quantizer + decompressor.

The three modules learn to reconstruct the frozen encoder's features through
a single binary codebook: the loss is the squared L2 distance between the
decompressed and the encoder features (masked to each utterance's frames),
plus the BSQ entropy loss (SpeechBrain's ``BinarySphericalQuantizer.forward``
with its straight-through estimator; weight and diversity gamma are quantizer
hparams), without commitment loss. The learning rate is annealed with NewBob
on the validation feature error.

Validation reports the feature error, the code usage (% of the codebook seen)
and normalized code entropy over the whole validation set, the bitrate, and,
when a stage-2 decoder is given (``decoder_checkpoint``), UTMOS / dWER /
speaker similarity of the resynthesized speech.

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
from typing import Dict, NamedTuple, Optional, Tuple

import speechbrain as sb
import torch
from torch import Tensor

from speechbrain_focalcodec.checkpoints import read_state_dict
from speechbrain_focalcodec.evaluation.codes import code_counts, code_entropy, code_usage
from speechbrain_focalcodec.lobes.bsq import BinarySphericalQuantizer
from speechbrain_focalcodec.ops.padding import lens_to_counts, padding_mask
from speechbrain_focalcodec.training.codec_brain import CodecStageBrain

__all__ = ["FeatureReconstruction", "QuantizerBrain", "match_frames", "quantize_valid_frames"]

logger = logging.getLogger(__name__)


class FeatureReconstruction(NamedTuple):
    """Outputs of the stage-1 forward pass."""

    feats: Tensor
    feats_lens: Tensor
    qfeats: Tensor
    toks: Tensor
    toks_lens: Tensor
    entropy_loss: Tensor


def quantize_valid_frames(
    quantizer: BinarySphericalQuantizer, lats: Tensor, lens: Tensor
) -> Tuple[Tensor, Tensor, Tensor]:
    """Training forward of the quantizer on the valid frames of a padded batch.

    SpeechBrain's ``BinarySphericalQuantizer.forward`` computes its entropy
    loss over every frame it gets; padded frames would count as frames of
    speech. Only the valid frames are given to it here.

    Arguments
    ---------
    quantizer : BinarySphericalQuantizer
        The quantizer.
    lats : torch.Tensor
        Latents, ``[batch, tokens, D]``.
    lens : torch.Tensor
        Their relative lengths.

    Returns
    -------
    codes : torch.Tensor
        Codes with straight-through gradients, ``[batch, tokens, D]``, zero on
        padded frames.
    toks : torch.Tensor
        Tokens, ``[batch, tokens]``, zero on padded frames.
    entropy_loss : torch.Tensor
        Weighted entropy loss of the valid frames.

    Example
    -------
    >>> quantizer = BinarySphericalQuantizer(codebook_size=16)
    >>> lats = torch.randn(2, 5, 4)
    >>> codes, toks, loss = quantize_valid_frames(quantizer, lats, torch.tensor([1.0, 0.4]))
    >>> toks[1, 2:].tolist(), bool(codes[1, 2:].eq(0).all())
    ([0, 0, 0], True)
    >>> _, _, alone = quantizer(lats[1:, :2])
    >>> torch.allclose(quantize_valid_frames(quantizer, lats[1:], torch.tensor([0.4]))[2], alone)
    True
    """
    num_frames = lens_to_counts(lens, lats.shape[1])
    if num_frames is None:
        return quantizer(lats)
    valid = ~padding_mask(num_frames, lats.shape[1])
    codes, toks, entropy_loss = quantizer(lats[valid][None])
    codes = torch.zeros_like(lats).masked_scatter(valid[..., None], codes[0])
    toks = torch.zeros(valid.shape, dtype=toks.dtype, device=toks.device).masked_scatter(
        valid, toks[0]
    )
    return codes, toks, entropy_loss


def match_frames(x: Tensor, num_frames: int) -> Tensor:
    """Cuts or right-pads (repeating the last frame) ``x`` to ``num_frames`` frames.

    At 25 and 12.5 Hz the decompressor gives back a whole number of tokens'
    worth of frames, up to 3 more than the encoder gave.

    Arguments
    ---------
    x : torch.Tensor
        ``[batch, frames, dim]``.
    num_frames : int
        Wanted number of frames.

    Returns
    -------
    x : torch.Tensor
        ``[batch, num_frames, dim]``.

    Example
    -------
    >>> match_frames(torch.arange(4.0).view(1, 4, 1), 3).flatten().tolist()
    [0.0, 1.0, 2.0]
    >>> match_frames(torch.arange(2.0).view(1, 2, 1), 3).flatten().tolist()
    [0.0, 1.0, 1.0]
    """
    if x.shape[1] >= num_frames:
        return x[:, :num_frames]
    return torch.cat([x, x[:, -1:].expand(-1, num_frames - x.shape[1], -1)], dim=1)


class QuantizerBrain(CodecStageBrain):
    """Trains ``modules.compressor``, ``modules.quantizer`` and ``modules.decompressor``.

    Hyperparameters used: ``encoder``, ``feature_loss``, ``lr_annealing``,
    ``decoder`` and ``decoder_checkpoint`` (optional, for the model-based
    metrics), plus those of ``CodecStageBrain``.
    """

    best_key = "feature_mse"

    def on_fit_start(self) -> None:
        """Loads the optional decoder, then does the usual fit start."""
        self._load_decoder()
        super().on_fit_start()

    def on_evaluate_start(
        self, max_key: Optional[str] = None, min_key: Optional[str] = None
    ) -> None:
        """Loads the optional decoder and the best checkpoint.

        Arguments
        ---------
        max_key : str, optional
            Checkpoint selection key (higher is better).
        min_key : str, optional
            Checkpoint selection key (lower is better).
        """
        self._load_decoder()
        super().on_evaluate_start(max_key=max_key, min_key=min_key)

    def _load_decoder(self) -> None:
        path = self.hparams.decoder_checkpoint
        if path and not getattr(self, "_decoder_loaded", False):
            self.hparams.decoder.load_state_dict(read_state_dict(path), strict=True)
            self.hparams.decoder.to(self.device).eval().requires_grad_(False)
            self._decoder_loaded = True

    @property
    def bitrate(self) -> float:
        """Bits per second of the codec being trained."""
        encoder, compressor = self.hparams.encoder, self.hparams.compressor
        token_rate = encoder.sample_rate / (
            encoder.downsample_factor * compressor.downsample_factor
        )
        return token_rate * self.hparams.quantizer.code_dim

    def compute_forward(self, batch, stage: sb.Stage) -> FeatureReconstruction:
        """Encodes, quantizes and decompresses a batch of utterances.

        Arguments
        ---------
        batch : PaddedBatch
            Batch with ``sig``.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        outputs : FeatureReconstruction
        """
        batch = batch.to(self.device)
        sig, lens = batch.sig
        feats, feats_lens = self.encode(batch.id, sig, lens)
        lats, lats_lens = self.modules.compressor(feats, feats_lens)
        codes, toks, entropy_loss = quantize_valid_frames(self.modules.quantizer, lats, lats_lens)
        qfeats, _ = self.modules.decompressor(codes, lats_lens)
        qfeats = match_frames(qfeats, feats.shape[1])
        return FeatureReconstruction(feats, feats_lens, qfeats, toks, lats_lens, entropy_loss)

    def compute_objectives(
        self, predictions: FeatureReconstruction, batch, stage: sb.Stage
    ) -> Tensor:
        """Squared L2 feature loss plus the BSQ entropy loss.

        Arguments
        ---------
        predictions : FeatureReconstruction
            Output of ``compute_forward``.
        batch : PaddedBatch
            The batch.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        loss : torch.Tensor
        """
        out = predictions
        feature_mse = self.hparams.feature_loss(out.qfeats, out.feats, length=out.feats_lens)
        loss = feature_mse + out.entropy_loss
        self.accumulate(feature_mse=feature_mse.detach(), entropy_loss=out.entropy_loss.detach())
        if stage != sb.Stage.TRAIN:
            self.code_counts += code_counts(
                out.toks, self.hparams.quantizer.codebook_size, out.toks_lens
            ).cpu()
            if self.resynthesis_wanted(stage):
                self._score(batch, out, stage)
        return loss

    def _score(self, batch, out: FeatureReconstruction, stage: sb.Stage) -> None:
        if not self.hparams.decoder_checkpoint:
            if stage == sb.Stage.TEST and not getattr(self, "_told_no_decoder", False):
                logger.info(
                    "No test resyntheses from stage 1 without a decoder "
                    "(--decoder_checkpoint <stage-2 save>/CKPT+.../decoder.ckpt)"
                )
                self._told_no_decoder = True
            return
        sig, _ = batch.sig
        hyp_sig, _ = self.hparams.decoder(out.qfeats, out.feats_lens)
        self.score_resynthesis(batch.id, hyp_sig, sig[:, : hyp_sig.shape[1]], out.feats_lens, stage)

    def on_stage_start(self, stage: sb.Stage, epoch: Optional[int] = None) -> None:
        """Resets the code counts.

        Arguments
        ---------
        stage : sb.Stage
            TRAIN, VALID or TEST.
        epoch : int, optional
            Current epoch.
        """
        super().on_stage_start(stage, epoch)
        self.code_counts = torch.zeros(self.hparams.quantizer.codebook_size, dtype=torch.long)

    def stage_end_stats(self, stage: sb.Stage) -> Dict[str, float]:
        """Codebook statistics and bitrate (validation and test).

        Arguments
        ---------
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        stats : dict
        """
        if stage == sb.Stage.TRAIN:
            return {}
        return {
            "code_usage": code_usage(self.code_counts),
            "code_entropy": code_entropy(self.code_counts),
            "bitrate_kbps": self.bitrate / 1000,
        }
