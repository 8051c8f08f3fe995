"""Data preparation for LibriTTS (https://www.openslr.org/60/).

LibriTTS comes as one folder per subset (``train-clean-100``,
``train-clean-360``, ``train-other-500``, ``dev-clean``, ``dev-other``,
``test-clean``, ``test-other``) of 24 kHz wav files. The manifests list the
utterances of the chosen subsets with their speaker; audio is resampled to
16 kHz on the fly, or once into ``resample_folder`` (recommended: loading
24 kHz audio and resampling it costs more than the model on small GPUs).

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
from pathlib import Path
from typing import Optional, Sequence, Union

from speechbrain_focalcodec.training.manifests import (
    DECODE_CACHE,
    DataPreparationError,
    DecodeCache,
    entries_for,
    is_prepared,
    utterance_ids,
    write_manifests,
)

__all__ = ["LIBRITTS_SUBSETS", "LIBRITTS_URL", "prepare_libritts"]

logger = logging.getLogger(__name__)

LIBRITTS_URL = "https://www.openslr.org/60/"
LIBRITTS_SUBSETS = (
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
)


def _libritts_root(data_folder: Path, subsets: Sequence[str]) -> Path:
    """The folder holding the subsets: ``data_folder`` or ``data_folder/LibriTTS``."""
    for root in (data_folder, data_folder / "LibriTTS"):
        if all((root / subset).is_dir() for subset in subsets):
            return root
    found = sorted(
        p.name
        for root in (data_folder, data_folder / "LibriTTS")
        if root.is_dir()
        for p in root.iterdir()
        if p.name in LIBRITTS_SUBSETS
    )
    missing = [s for s in subsets if s not in found]
    raise DataPreparationError(
        f"LibriTTS subsets {missing} not found in {data_folder} (found: {found or 'none'}). "
        f"Download them from {LIBRITTS_URL} and extract them there"
    )


def prepare_libritts(
    data_folder: Union[str, Path],
    train_json: Union[str, Path],
    valid_json: Union[str, Path],
    test_json: Union[str, Path],
    train_splits: Sequence[str] = ("train-clean-100", "train-clean-360", "train-other-500"),
    valid_splits: Sequence[str] = ("dev-clean",),
    test_splits: Sequence[str] = ("test-clean",),
    sample_rate: int = 16000,
    resample_folder: Optional[Union[str, Path]] = None,
    skip_prep: bool = False,
    num_workers: int = 4,
) -> None:
    """Writes the train / valid / test manifests of LibriTTS subsets.

    Nothing is done if the manifests exist and were made with the same
    options. Every file is decoded once (see ``folder_prepare.prepare_folder``):
    unusable files are skipped with one warning each.

    Arguments
    ---------
    data_folder : str or Path
        LibriTTS root: the folder holding the subset folders (or their parent
        ``LibriTTS`` folder).
    train_json : str or Path
        Output manifest of the training split.
    valid_json : str or Path
        Output manifest of the validation split.
    test_json : str or Path
        Output manifest of the test split.
    train_splits : sequence of str
        Subsets for training.
    valid_splits : sequence of str
        Subsets for validation.
    test_splits : sequence of str
        Subsets for test.
    sample_rate : int
        Model input rate.
    resample_folder : str or Path, optional
        Where to write copies at ``sample_rate`` (None: resample on the fly).
    skip_prep : bool
        Do nothing.
    num_workers : int
        Decoding threads.
    """
    if skip_prep:
        return
    subsets = [list(train_splits), list(valid_splits), list(test_splits)]
    unknown = sorted({s for split in subsets for s in split} - set(LIBRITTS_SUBSETS))
    if unknown:
        raise DataPreparationError(
            f"Unknown LibriTTS subsets {unknown}; choose among {list(LIBRITTS_SUBSETS)}"
        )
    data_folder = Path(data_folder).resolve()
    jsons = [Path(train_json), Path(valid_json), Path(test_json)]
    options = {
        "dataset": "libritts",
        "data_folder": str(data_folder),
        "subsets": subsets,
        "sample_rate": sample_rate,
        "resample_folder": None
        if resample_folder is None
        else str(Path(resample_folder).resolve()),
    }
    if is_prepared(jsons, options):
        logger.info("Data preparation done before with the same options, skipping")
        return
    root = _libritts_root(data_folder, [s for split in subsets for s in split])
    resample_root = None if resample_folder is None else Path(options["resample_folder"])
    files = {
        subset: sorted((root / subset).rglob("*.wav")) for split in subsets for subset in split
    }
    ids = utterance_ids([f for subset_files in files.values() for f in subset_files], data_folder)
    manifests = {}
    cache = DecodeCache(jsons[0].parent / DECODE_CACHE)
    try:
        for path, split in zip(jsons, subsets):
            entries = {}
            for subset in split:
                entries.update(
                    entries_for(
                        files[subset],
                        ids,
                        data_folder,
                        sample_rate,
                        resample_root,
                        subset,
                        cache,
                        num_workers,
                    )
                )
            for utt_id, entry in entries.items():
                entry["spk_id"] = utt_id.split("_")[0]
            manifests[path] = entries
    finally:
        cache.save()
    write_manifests(manifests, options)
