"""Datasets and data loaders of the training recipe.

Utterances are read from the manifests (see ``manifests.py``), mixed down to
mono and resampled to the model rate; they are filtered by duration
(``<split>_min_duration`` / ``<split>_max_duration``, seconds) and batched
either dynamically (batches of up to ``<split>_max_batch_length`` seconds of
audio, SpeechBrain's ``DynamicBatchSampler``) or with a fixed batch size.

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
from typing import Any, Dict, Mapping

import speechbrain as sb
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.dataio.sampler import DynamicBatchSampler
from torch import Tensor

from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.machine import available_cpus
from speechbrain_focalcodec.training.manifests import DataPreparationError

__all__ = ["SPLITS", "dataio_prepare", "loader_kwargs", "loader_workers"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def loader_workers(requested: int, cpus: int = 0) -> int:
    """DataLoader worker processes: at most one per CPU besides the training process.

    Arguments
    ---------
    requested : int
        ``num_workers`` of the yaml.
    cpus : int
        Available CPUs (0: ``available_cpus()``).

    Returns
    -------
    workers : int
        ``min(requested, cpus - 1)`` (0: load in the training process).

    Example
    -------
    >>> loader_workers(4, cpus=2), loader_workers(4, cpus=16), loader_workers(4, cpus=1)
    (1, 4, 0)
    """
    return max(0, min(int(requested), (cpus or available_cpus()) - 1))


def _duration(item: Mapping[str, Any]) -> float:
    return item["duration"]


def dataio_prepare(hparams: Mapping[str, Any]) -> Dict[str, DynamicItemDataset]:
    """Builds the train / valid / test datasets from the manifests.

    Arguments
    ---------
    hparams : mapping
        Recipe hyperparameters: ``<split>_json``, ``data_folder``,
        ``resample_folder``, ``sample_rate``, ``sorting`` and the duration
        limits.

    Returns
    -------
    datasets : dict
        ``train``, ``valid`` and ``test`` datasets providing ``id`` and
        ``sig`` (a mono waveform at ``sample_rate``).
    """
    replacements = {"data_root": str(hparams["data_folder"])}
    if hparams.get("resample_folder"):
        replacements["resample_root"] = str(hparams["resample_folder"])
    sample_rate = hparams["sample_rate"]

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav: str) -> Tensor:
        return load_audio(wav, sample_rate)

    datasets = {}
    for split in SPLITS:
        dataset = DynamicItemDataset.from_json(hparams[f"{split}_json"], replacements)
        shuffled = split == "train" and hparams["sorting"] == "random"
        dataset = dataset.filtered_sorted(
            key_min_value={"duration": hparams.get(f"{split}_min_duration", 0.0)},
            key_max_value={"duration": hparams[f"{split}_max_duration"]},
            sort_key=None if shuffled else "duration",
            reverse=split != "train" or hparams["sorting"] == "descending",
        )
        if len(dataset) == 0:
            raise DataPreparationError(
                f"No {split} utterance is left after the duration filters "
                f"({split}_min_duration / {split}_max_duration)"
            )
        dataset.add_dynamic_item(audio_pipeline)
        dataset.set_output_keys(["id", "sig"])
        datasets[split] = dataset
    return datasets


def loader_kwargs(
    hparams: Mapping[str, Any], datasets: Mapping[str, DynamicItemDataset]
) -> Dict[str, Dict[str, Any]]:
    """DataLoader options of each split.

    ``num_workers`` loader processes are asked for, at most one per available CPU
    besides the training process (``loader_workers``). With ``dynamic_batching``,
    training batches hold up to
    ``train_max_batch_length`` seconds of audio (at most ``max_batch_size``
    utterances), bucketed by duration; otherwise ``<split>_batch_size``
    utterances.

    Arguments
    ---------
    hparams : mapping
        Recipe hyperparameters.
    datasets : mapping
        Output of ``dataio_prepare``.

    Returns
    -------
    kwargs : dict
        Split name -> keyword arguments of ``Brain.make_dataloader``.
    """
    requested = int(hparams.get("num_workers", 0))
    workers = loader_workers(requested)
    if workers < requested:
        logger.info(
            "Data loading with %d worker processes instead of num_workers=%d (%d CPUs)",
            workers,
            requested,
            available_cpus(),
        )
    options = {}
    for split in SPLITS:
        kwargs: Dict[str, Any] = {"num_workers": workers}
        if split == "train" and hparams.get("dynamic_batching", False):
            kwargs["batch_sampler"] = DynamicBatchSampler(
                datasets[split],
                hparams["train_max_batch_length"],
                num_buckets=hparams["num_buckets"],
                length_func=_duration,
                shuffle=hparams["sorting"] == "random",
                batch_ordering=hparams["sorting"],
                max_batch_ex=hparams["max_batch_size"],
                seed=hparams["seed"],
            )
        else:
            kwargs["batch_size"] = hparams[f"{split}_batch_size"]
            if split == "train":
                kwargs["shuffle"] = hparams["sorting"] == "random"
        options[split] = kwargs
    return options
