"""What the two training stages share: the frozen encoder, metrics, logs.

Both stages learn from the features of the same frozen WavLM encoder (kept in
``hparams.encoder``, outside ``modules``: it is neither optimized nor wrapped
for DDP). Validation reports model-based metrics (UTMOS, dWER, speaker
similarity, from ``speechbrain_focalcodec.evaluation.models``) on
resynthesized speech every ``model_metrics_every`` epochs and at test time,
when their models can be loaded; offline each is switched off with one log
line.

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import speechbrain as sb
import torch
from speechbrain.dataio.dataio import write_audio
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.metric_stats import MetricStats
from torch import Tensor

from speechbrain_focalcodec.evaluation.models import load_metrics
from speechbrain_focalcodec.ops.padding import lens_to_counts
from speechbrain_focalcodec.training.feature_cache import CachedEncoder

__all__ = ["CodecStageBrain"]

logger = logging.getLogger(__name__)


class CodecStageBrain(sb.Brain):
    """Base class of the stage-1 and stage-2 Brains.

    Subclasses implement ``compute_forward`` / ``compute_objectives`` and
    ``stage_end_stats``; they record batch statistics with ``accumulate``.
    """

    # Key of the validation statistics that selects the best checkpoint.
    best_key = "loss"

    def on_fit_start(self) -> None:
        """Moves the frozen encoder to the device, then resumes if a checkpoint exists."""
        self.hparams.encoder.to(self.device).eval().requires_grad_(False)
        super().on_fit_start()
        if self.optimizer_step > 0:
            logger.info(
                "Resumed from the last checkpoint: %d epochs done, optimizer step %d",
                self.hparams.epoch_counter.current,
                self.optimizer_step,
            )

    def on_evaluate_start(
        self, max_key: Optional[str] = None, min_key: Optional[str] = None
    ) -> None:
        """Moves the frozen encoder to the device and loads the best checkpoint.

        Arguments
        ---------
        max_key : str, optional
            Checkpoint selection key (higher is better).
        min_key : str, optional
            Checkpoint selection key (lower is better).
        """
        self.hparams.encoder.to(self.device).eval().requires_grad_(False)
        super().on_evaluate_start(max_key=max_key, min_key=min_key)

    @torch.no_grad()
    def encode(self, ids: List[str], sig: Tensor, lens: Tensor) -> Tuple[Tensor, Tensor]:
        """Features of the frozen encoder (kept in memory with ``cache_features``).

        Arguments
        ---------
        ids : list of str
            Utterance ids.
        sig : torch.Tensor
            Waveforms, ``[batch, samples]``.
        lens : torch.Tensor
            Relative lengths.

        Returns
        -------
        feats : torch.Tensor
            ``[batch, frames, dim]``.
        feats_lens : torch.Tensor
            Their relative lengths.
        """
        if not self.hparams.cache_features:
            return self.hparams.encoder(sig, lens)
        if not hasattr(self, "_cached_encoder"):
            self._cached_encoder = CachedEncoder(self.hparams.encoder)
        return self._cached_encoder(ids, sig, lens)

    # ------------------------------------------------------------ statistics
    def on_stage_start(self, stage: sb.Stage, epoch: Optional[int] = None) -> None:
        """Resets the statistics of the stage.

        Arguments
        ---------
        stage : sb.Stage
            TRAIN, VALID or TEST.
        epoch : int, optional
            Current epoch.
        """
        super().on_stage_start(stage, epoch)
        self.sums: Dict[str, float] = defaultdict(float)
        self.counts: Dict[str, int] = defaultdict(int)
        self.saved_audios = 0
        self.active_metrics = {}
        if self.model_metrics_due(stage, epoch):
            for metric in self.model_metrics().values():
                metric.clear()
            self.active_metrics = self.model_metrics()

    def accumulate(self, **values: Tensor) -> None:
        """Adds batch statistics (finite values only) to the stage averages.

        Arguments
        ---------
        **values : torch.Tensor
            Scalars by name.
        """
        for name, value in values.items():
            value = float(value)
            if value == value and abs(value) != float("inf"):
                self.sums[name] += value
                self.counts[name] += 1

    def averages(self) -> Dict[str, float]:
        """Averages of the accumulated statistics."""
        return {name: self.sums[name] / self.counts[name] for name in self.sums}

    # --------------------------------------------------------- model metrics
    def model_metrics(self) -> Dict[str, MetricStats]:
        """UTMOS / dWER / speaker similarity, loaded once on the main process."""
        if not hasattr(self, "_model_metrics"):
            names = list(self.hparams.model_metrics) if if_main_process() else []
            self._model_metrics = load_metrics(names, self.hparams.sample_rate, logger)
            if names and not self._model_metrics:
                logger.info("No model-based metric available: validation reports the losses only")
        return self._model_metrics

    def model_metrics_due(self, stage: sb.Stage, epoch: Optional[int]) -> bool:
        """Whether the model-based metrics are computed in this stage.

        Arguments
        ---------
        stage : sb.Stage
            TRAIN, VALID or TEST.
        epoch : int, optional
            Current epoch.

        Returns
        -------
        due : bool
        """
        if stage == sb.Stage.TRAIN or not self.hparams.model_metrics:
            return False
        if stage == sb.Stage.TEST:
            return True
        every = self.hparams.model_metrics_every
        return bool(every) and epoch is not None and epoch % every == 0

    def score_resynthesis(
        self, ids: List[str], hyp_sig: Tensor, ref_sig: Tensor, lens: Tensor, stage: sb.Stage
    ) -> None:
        """Feeds resynthesized speech to the active metrics; saves test audio.

        Arguments
        ---------
        ids : list of str
            Utterance ids.
        hyp_sig : torch.Tensor
            Resynthesized waveforms, ``[batch, samples]``.
        ref_sig : torch.Tensor
            Reference waveforms, same shape.
        lens : torch.Tensor
            Relative lengths.
        stage : sb.Stage
            VALID or TEST.
        """
        hyp_sig, ref_sig = hyp_sig.float(), ref_sig.float()
        for name, metric in self.active_metrics.items():
            if name == "utmos":
                metric.append(ids, hyp_sig, lens)
            else:
                metric.append(ids, hyp_sig, ref_sig, lens)
        if stage == sb.Stage.TEST and if_main_process():
            self.save_audio(ids, hyp_sig, ref_sig, lens)

    def save_audio(self, ids: List[str], hyp_sig: Tensor, ref_sig: Tensor, lens: Tensor) -> None:
        """Writes the first ``num_saved_audios`` test resyntheses and their references.

        Arguments
        ---------
        ids : list of str
            Utterance ids.
        hyp_sig : torch.Tensor
            Resynthesized waveforms.
        ref_sig : torch.Tensor
            Reference waveforms.
        lens : torch.Tensor
            Relative lengths.
        """
        folder = Path(self.hparams.output_folder) / "audio"
        counts = lens_to_counts(lens, hyp_sig.shape[1])
        for index, utt_id in enumerate(ids):
            if self.saved_audios >= self.hparams.num_saved_audios:
                return
            folder.mkdir(parents=True, exist_ok=True)
            count = hyp_sig.shape[1] if counts is None else int(counts[index])
            for suffix, sig in (("rec", hyp_sig), ("ref", ref_sig)):
                path = folder / f"{utt_id}_{suffix}.wav"
                write_audio(str(path), sig[index, :count].cpu(), self.hparams.sample_rate)
            self.saved_audios += 1

    def model_metric_stats(self) -> Dict[str, float]:
        """Summaries of the active model-based metrics."""
        stats = {}
        for name, metric in self.active_metrics.items():
            if metric.ids:
                key = "error_rate" if name == "dwer" else "average"
                stats[name] = float(metric.summarize(key))
        return stats

    # ---------------------------------------------------------------- logging
    def on_stage_end(self, stage: sb.Stage, stage_loss: float, epoch: Optional[int] = None) -> None:
        """Logs the statistics; after validation, anneals and saves a checkpoint.

        Arguments
        ---------
        stage : sb.Stage
            TRAIN, VALID or TEST.
        stage_loss : float
            Average loss of the stage.
        epoch : int, optional
            Current epoch.
        """
        stats = {"loss": stage_loss, **self.averages(), **self.stage_end_stats(stage)}
        stats.update(self.model_metric_stats())
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        if stage == sb.Stage.VALID:
            lr = self.end_of_epoch(epoch, stats)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr, "steps": self.optimizer_step},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={self.best_key: stats[self.best_key], "epoch": epoch},
                min_keys=[self.best_key],
                num_to_keep=self.hparams.keep_checkpoints,
            )
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )

    def stage_end_stats(self, stage: sb.Stage) -> Dict[str, float]:
        """Statistics of the stage besides the averaged batch statistics.

        Arguments
        ---------
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        stats : dict
        """
        return {}

    def end_of_epoch(self, epoch: int, valid_stats: Dict[str, float]) -> float:
        """Updates the learning rate after validation; returns the rate now in use.

        Arguments
        ---------
        epoch : int
            The epoch that ended.
        valid_stats : dict
            Validation statistics.

        Returns
        -------
        lr : float
        """
        raise NotImplementedError
