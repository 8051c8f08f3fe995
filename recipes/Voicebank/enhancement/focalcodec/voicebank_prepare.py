"""Data preparation for VoiceBank-DEMAND (https://doi.org/10.7488/ds/2117).

Writes ``train.csv``, ``valid.csv`` and ``test.csv`` (``ID, duration,
noisy_wav, clean_wav``) in ``save_folder``: the 28-speaker training set
without the validation speakers, the validation speakers, and the test set.

Expected layout: ``<data_folder>/{clean,noisy}_trainset_28spk_wav/<id>.wav``
and ``<data_folder>/{clean,noisy}_testset_wav/<id>.wav``.

Authors
 * speechbrain-focalcodec developers 2026
"""

import csv
import logging
from pathlib import Path
from typing import List, Sequence

import soundfile

logger = logging.getLogger(__name__)


def prepare_voicebank(
    data_folder: str,
    save_folder: str,
    valid_speakers: Sequence[str] = ("p226", "p287"),
    skip_prep: bool = False,
) -> None:
    """Writes the train, valid and test CSV files.

    Arguments
    ---------
    data_folder : str
        The VoiceBank-DEMAND folder.
    save_folder : str
        Where the CSV files go.
    valid_speakers : sequence of str
        Training speakers held out for validation.
    skip_prep : bool
        Do nothing (the CSV files already exist).
    """
    if skip_prep:
        return
    save = Path(save_folder)
    outputs = {name: save / f"{name}.csv" for name in ("train", "valid", "test")}
    if all(path.is_file() for path in outputs.values()):
        logger.info("VoiceBank CSV files exist in %s, skipping", save)
        return
    save.mkdir(parents=True, exist_ok=True)
    train = _pairs(Path(data_folder), "trainset_28spk_wav")
    is_valid = [row[0].split("_")[0] in valid_speakers for row in train]
    rows = {
        "train": [row for row, valid in zip(train, is_valid) if not valid],
        "valid": [row for row, valid in zip(train, is_valid) if valid],
        "test": _pairs(Path(data_folder), "testset_wav"),
    }
    for name, path in outputs.items():
        if not rows[name]:
            raise FileNotFoundError(f"No {name} utterances in {data_folder}")
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["ID", "duration", "noisy_wav", "clean_wav"])
            writer.writerows(rows[name])
        logger.info("%s: %d utterances", path, len(rows[name]))


def _pairs(folder: Path, split: str) -> List[List[str]]:
    noisy_folder, clean_folder = folder / f"noisy_{split}", folder / f"clean_{split}"
    if not noisy_folder.is_dir() or not clean_folder.is_dir():
        raise FileNotFoundError(f"VoiceBank folders not found: {noisy_folder}, {clean_folder}")
    rows = []
    for noisy in sorted(noisy_folder.glob("*.wav")):
        clean = clean_folder / noisy.name
        if not clean.is_file():
            raise FileNotFoundError(f"{noisy} has no clean counterpart {clean}")
        duration = soundfile.info(str(noisy)).duration
        rows.append([noisy.stem, f"{duration:.4f}", str(noisy.resolve()), str(clean.resolve())])
    return rows
