"""Data preparation for LibriSpeech (https://www.openslr.org/12).

Writes one CSV per split, ``<save_folder>/<split>.csv``, with the columns
``ID, duration, wav, spk_id, wrd`` (transcripts as distributed: upper case).
``split_by_speaker`` makes the speaker-identification splits (a fixed share of
each speaker's utterances in train, valid and test).

Expected layout: ``<data_folder>/<split>/<speaker>/<chapter>/<id>.flac`` with
``<speaker>-<chapter>.trans.txt`` next to the audio.

Authors
 * speechbrain-focalcodec developers 2026
"""

import csv
import logging
import random
from pathlib import Path
from typing import Dict, List, Sequence

import soundfile

logger = logging.getLogger(__name__)

HEADER = ["ID", "duration", "wav", "spk_id", "wrd"]


def prepare_librispeech(
    data_folder: str, save_folder: str, splits: Sequence[str], skip_prep: bool = False
) -> None:
    """Writes ``<save_folder>/<split>.csv`` for each split.

    Arguments
    ---------
    data_folder : str
        The LibriSpeech folder (holding ``train-clean-100``, ``dev-clean``...).
    save_folder : str
        Where the CSV files go.
    splits : sequence of str
        Split folders to prepare.
    skip_prep : bool
        Do nothing (the CSV files already exist).
    """
    if skip_prep:
        return
    save = Path(save_folder)
    save.mkdir(parents=True, exist_ok=True)
    for split in splits:
        out = save / f"{split}.csv"
        if out.is_file():
            logger.info("%s exists, skipping", out)
            continue
        rows = _read_split(Path(data_folder) / split)
        _write_csv(out, rows)
        logger.info("%s: %d utterances", out, len(rows))


def _read_split(folder: Path) -> List[Dict[str, str]]:
    if not folder.is_dir():
        raise FileNotFoundError(f"LibriSpeech split not found: {folder}")
    rows = []
    for trans in sorted(folder.glob("*/*/*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utt_id, text = line.split(" ", 1)
            wav = trans.parent / f"{utt_id}.flac"
            if not wav.is_file():
                raise FileNotFoundError(f"{trans} lists {utt_id} but {wav} is missing")
            rows.append(
                {
                    "ID": utt_id,
                    "duration": f"{soundfile.info(str(wav)).duration:.4f}",
                    "wav": str(wav.resolve()),
                    "spk_id": utt_id.split("-")[0],
                    "wrd": text.strip(),
                }
            )
    if not rows:
        raise FileNotFoundError(f"No transcripts (*/*/*.trans.txt) under {folder}")
    return rows


def _write_csv(path: Path, rows: List[Dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


def split_by_speaker(
    csv_files: Sequence[str],
    save_folder: str,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    names: Sequence[str] = ("train", "valid", "test"),
) -> None:
    """Splits the utterances of each speaker into train, valid and test CSVs.

    Each speaker's utterances are shuffled (fixed seed) and cut by ``ratios``;
    every speaker with at least three utterances appears in all three splits.

    Arguments
    ---------
    csv_files : sequence of str
        CSV files written by ``prepare_librispeech``.
    save_folder : str
        Where ``<name>.csv`` go.
    ratios : sequence of float
        Shares of train, valid and test.
    seed : int
        Shuffling seed.
    names : sequence of str
        File names (without ``.csv``) of the three splits.
    """
    outputs = [Path(save_folder) / f"{name}.csv" for name in names]
    if all(path.is_file() for path in outputs):
        logger.info("Speaker splits exist in %s, skipping", save_folder)
        return
    by_speaker: Dict[str, List[Dict[str, str]]] = {}
    for csv_file in csv_files:
        with open(csv_file, newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                by_speaker.setdefault(row["spk_id"], []).append(row)
    rng = random.Random(seed)
    splits: List[List[Dict[str, str]]] = [[], [], []]
    for speaker in sorted(by_speaker):
        rows = sorted(by_speaker[speaker], key=lambda row: row["ID"])
        rng.shuffle(rows)
        num_valid = max(1, round(ratios[1] * len(rows))) if len(rows) >= 3 else 0
        num_test = max(1, round(ratios[2] * len(rows))) if len(rows) >= 3 else 0
        num_train = len(rows) - num_valid - num_test
        splits[0] += rows[:num_train]
        splits[1] += rows[num_train : num_train + num_valid]
        splits[2] += rows[num_train + num_valid :]
    for path, rows in zip(outputs, splits):
        _write_csv(path, rows)
        logger.info("%s: %d utterances", path, len(rows))
