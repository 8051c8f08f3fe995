"""What the Brains of every training stage share: frozen modules, statistics, metrics,
logs, checkpoints and test resyntheses.

A stage learns from the features of a frozen encoder (``hparams.encoder``, or the
first of ``frozen_modules``; kept outside ``modules``: neither optimized nor wrapped
for DDP). Batch statistics are averaged over each stage (``accumulate``), logged once
per epoch with the learning rate and optimizer step, and the best checkpoint is
chosen on the validation statistic ``best_key``. Validation reports model-based
metrics (UTMOS, dWER, speaker similarity, from
``speechbrain_focalcodec.evaluation.models``) on resynthesized speech every
``model_metrics_every`` epochs and at test time, when their models can be loaded;
offline each is switched off with one log line. Whenever the test stage runs, the
first ``num_saved_audios`` resyntheses and their references are written to
``<output_folder>/audio/``.

A stage Brain of any recipe subclasses ``CodecStageBrain`` and implements
``compute_forward`` / ``compute_objectives`` (calling ``accumulate`` and, on
resynthesized speech, ``score_resynthesis``), and optionally ``end_of_epoch``
(learning-rate schedule), ``stage_end_stats`` and ``frozen_modules``. Hyperparameters
read here: ``epoch_counter``, ``train_logger``, ``output_folder``, ``sample_rate``, and
optionally ``cache_features`` (False), ``model_metrics`` (none),
``model_metrics_every`` (0), ``num_saved_audios`` (0) and ``keep_checkpoints`` (1).

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import speechbrain as sb
import torch
from speechbrain.nnet.schedulers import update_learning_rate
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.metric_stats import MetricStats
from torch import Tensor, nn

from speechbrain_focalcodec.audio_files import write_audio_file
from speechbrain_focalcodec.evaluation.models import load_metrics
from speechbrain_focalcodec.ops.padding import lens_to_counts
from speechbrain_focalcodec.training.feature_cache import CachedEncoder

__all__ = ["CodecStageBrain", "debug_epochs"]

logger = logging.getLogger(__name__)


def debug_epochs(counter: Iterable[int], limit: int) -> Iterator[int]:
    """The epochs of ``counter`` while fewer than ``limit`` are done.

    ``counter.current`` (SpeechBrain's ``EpochCounter``: epochs done, restored
    when a run resumes) is read before each epoch is drawn.

    Arguments
    ---------
    counter : iterable of int
        An epoch counter.
    limit : int
        Epochs in all.

    Yields
    ------
    epoch : int

    Example
    -------
    >>> from speechbrain.utils.epoch_loop import EpochCounter
    >>> list(debug_epochs(EpochCounter(50), 2))
    [1, 2]
    >>> resumed = EpochCounter(50)
    >>> resumed.current = 2
    >>> list(debug_epochs(resumed, 2))
    []
    """
    iterator = iter(counter)
    while getattr(counter, "current", 0) < limit:
        try:
            yield next(iterator)
        except StopIteration:
            return


class CodecStageBrain(sb.Brain):
    """Base class of the Brains of the training stages (see the module docstring).

    Subclasses implement ``compute_forward`` / ``compute_objectives`` and record
    batch statistics with ``accumulate``.
    """

    # Key of the validation statistics that selects the best checkpoint.
    best_key = "loss"
    # Hyperparameters holding frozen modules (moved to the device, kept in eval mode,
    # never optimized); the first is the encoder of ``encode``.
    frozen_modules: Tuple[str, ...] = ("encoder",)

    def option(self, name: str, default: Any = None) -> Any:
        """A hyperparameter, or ``default`` when the yaml does not set it.

        Arguments
        ---------
        name : str
            Hyperparameter name.
        default : object
            Value when absent.

        Returns
        -------
        value
        """
        return getattr(self.hparams, name, default)

    def freeze_modules(self) -> None:
        """Moves the ``frozen_modules`` to the device, in eval mode, without gradients."""
        for name in self.frozen_modules:
            module = self.option(name)
            if isinstance(module, nn.Module):
                module.to(self.device).eval().requires_grad_(False)

    def fit(self, epoch_counter: Iterable[int], *args: Any, **kwargs: Any) -> None:
        """SpeechBrain's ``fit``; in debug mode, never past ``debug_epochs`` in all.

        SpeechBrain stops a debug run when the epoch number equals ``debug_epochs``,
        so a debug run resumed after that epoch trained every epoch of the yaml.

        Arguments
        ---------
        epoch_counter : iterable of int
            The yaml's epoch counter (recovered from the checkpoint in ``on_fit_start``).
        *args : tuple
        **kwargs : dict
            Forwarded to ``speechbrain.Brain.fit``.
        """
        if self.debug:
            epoch_counter = debug_epochs(epoch_counter, self.debug_epochs)
        return super().fit(epoch_counter, *args, **kwargs)

    def on_fit_start(self) -> None:
        """Moves the frozen modules to the device, then resumes if a checkpoint exists."""
        self.freeze_modules()
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
        self.freeze_modules()
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
        encoder = self.option(self.frozen_modules[0])
        if not self.option("cache_features", False):
            return encoder(sig, lens)
        if not hasattr(self, "_cached_encoder"):
            self._cached_encoder = CachedEncoder(encoder)
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
            names = list(self.option("model_metrics") or []) if if_main_process() else []
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
        if stage == sb.Stage.TRAIN or not self.option("model_metrics"):
            return False
        if stage == sb.Stage.TEST:
            return True
        every = self.option("model_metrics_every", 0)
        return bool(every) and epoch is not None and epoch % every == 0

    def resynthesis_wanted(self, stage: sb.Stage) -> bool:
        """Whether this batch's resynthesized speech is used (metrics due, or test audio
        still to save).

        Arguments
        ---------
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        wanted : bool
        """
        if stage == sb.Stage.TRAIN:
            return False
        to_save = stage == sb.Stage.TEST and if_main_process()
        to_save = to_save and self.saved_audios < self.option("num_saved_audios", 0)
        return bool(self.active_metrics) or to_save

    def score_resynthesis(
        self, ids: List[str], hyp_sig: Tensor, ref_sig: Tensor, lens: Tensor, stage: sb.Stage
    ) -> None:
        """Feeds resynthesized speech to the active metrics; saves test audio.

        Call it on every validation and test batch that has resynthesized speech
        (the metrics are fed only when due; test audio is always saved).

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
        """Writes the first ``num_saved_audios`` test resyntheses and their references
        (``<output_folder>/audio/<id>_rec.wav`` and ``<id>_ref.wav``).

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
        rate = self.option("output_sample_rate") or self.hparams.sample_rate
        for index, utt_id in enumerate(ids):
            if self.saved_audios >= self.option("num_saved_audios", 0):
                return
            count = hyp_sig.shape[1] if counts is None else int(counts[index])
            for suffix, sig in (("rec", hyp_sig), ("ref", ref_sig)):
                write_audio_file(folder / f"{utt_id}_{suffix}.wav", sig[index, :count], rate)
            self.saved_audios += 1
            if self.saved_audios == 1:
                logger.info("Writing test resyntheses to %s", folder)

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
            # Saved before logging: an epoch whose checkpoint fails (full disk) is not
            # logged, and the rerun that redoes it logs it once.
            self.checkpointer.save_and_keep_only(
                meta={self.best_key: stats[self.best_key], "epoch": epoch},
                min_keys=[self.best_key],
                num_to_keep=self.option("keep_checkpoints", 1),
            )
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr, "steps": self.optimizer_step},
                train_stats=self.train_stats,
                valid_stats=stats,
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

    def _save_intra_epoch_ckpt(self) -> None:
        """Saves an intra-epoch checkpoint (SpeechBrain's), with a log line."""
        super()._save_intra_epoch_ckpt()
        logger.info(
            "Saved an intra-epoch checkpoint at optimizer step %d in %s",
            self.optimizer_step,
            self.checkpointer.checkpoints_dir,
        )

    def end_of_epoch(self, epoch: int, valid_stats: Dict[str, float]) -> float:
        """Updates the learning rate after validation; returns the rate used in the epoch.

        With an ``lr_annealing`` scheduler (NewBob) and one optimizer, the rate anneals
        on the validation statistic ``best_key``; otherwise nothing changes and the rate
        of the first optimizer is returned.

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
        annealing = getattr(self.hparams, "lr_annealing", None)
        optimizer = getattr(self, "optimizer", None)
        if annealing is not None and optimizer is not None:
            old_lr, new_lr = annealing(valid_stats[self.best_key])
            update_learning_rate(optimizer, new_lr)
            return old_lr
        optimizers = list((getattr(self, "optimizers_dict", None) or {}).values())
        optimizers = optimizers or [optimizer]
        if optimizers[0] is None:
            return float("nan")
        return float(optimizers[0].param_groups[0]["lr"])
