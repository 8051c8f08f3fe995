"""Data preparation for IEMOCAP (https://sail.usc.edu/iemocap/).

Writes ``<save_folder>/<split>.csv`` (``ID, duration, wav, emo``) for the
splits ``Session1`` to ``Session4`` and ``Session5F`` / ``Session5M`` (the
utterances of the female / male speaker of session 5), keeping the
utterances whose label is one of ``emotions``.

Expected layout: ``<data_folder>/Session<N>/sentences/wav/<dialog>/<id>.wav``
and ``<data_folder>/Session<N>/dialog/EmoEvaluation/<dialog>.txt``.

Authors
 * speechbrain-focalcodec developers 2026
"""

import csv
import logging
from pathlib import Path
from typing import Dict, Sequence

import soundfile

logger = logging.getLogger(__name__)

SPLITS = ("Session1", "Session2", "Session3", "Session4", "Session5F", "Session5M")


def prepare_iemocap(
    data_folder: str,
    save_folder: str,
    splits: Sequence[str] = SPLITS,
    emotions: Sequence[str] = ("neu", "hap", "sad", "ang"),
    skip_prep: bool = False,
) -> None:
    """Writes one CSV per split.

    Arguments
    ---------
    data_folder : str
        The IEMOCAP folder (holding ``Session1``...``Session5``).
    save_folder : str
        Where the CSV files go.
    splits : sequence of str
        Among ``Session1``...``Session5``, ``Session5F``, ``Session5M``.
    emotions : sequence of str
        Labels to keep (IEMOCAP's three-letter codes).
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
        session = Path(data_folder) / split.rstrip("FM")
        speaker = split[len("Session") + 1 :]  # "", "F" or "M"
        labels = _read_labels(session)
        rows = []
        for wav in sorted((session / "sentences" / "wav").glob("*/*.wav")):
            utt_id = wav.stem
            if labels.get(utt_id) not in emotions:
                continue
            if speaker and not utt_id.rsplit("_", 1)[-1].startswith(speaker):
                continue
            duration = soundfile.info(str(wav)).duration
            rows.append([utt_id, f"{duration:.4f}", str(wav.resolve()), labels[utt_id]])
        if not rows:
            raise FileNotFoundError(f"No labelled utterances of {emotions} in {session}")
        with open(out, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["ID", "duration", "wav", "emo"])
            writer.writerows(rows)
        logger.info("%s: %d utterances", out, len(rows))


def _read_labels(session: Path) -> Dict[str, str]:
    """Utterance id -> emotion, from ``dialog/EmoEvaluation/*.txt``."""
    folder = session / "dialog" / "EmoEvaluation"
    if not folder.is_dir():
        raise FileNotFoundError(f"IEMOCAP labels not found: {folder}")
    labels = {}
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            # "[start - end]<TAB>utterance id<TAB>emotion<TAB>[valence, arousal, dominance]"
            if line.startswith("["):
                fields = line.split("\t")
                if len(fields) >= 3:
                    labels[fields[1].strip()] = fields[2].strip()
    return labels
