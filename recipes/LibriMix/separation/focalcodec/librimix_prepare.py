"""Data preparation for Libri2Mix (https://github.com/JorisCos/LibriMix).

Writes ``<save_folder>/<split>.csv`` (``ID, duration, mix_wav, s1_wav,
s2_wav``) for the given splits of a mixture version (default ``wav16k/min``,
clean mixtures).

Expected layout: ``<data_folder>/<version>/<split>/{mix_clean,s1,s2}/<id>.wav``
with ``<data_folder>`` the ``Libri2Mix`` folder.

Authors
 * speechbrain-focalcodec developers 2026
"""

import csv
import logging
from pathlib import Path
from typing import Sequence

import soundfile

logger = logging.getLogger(__name__)


def prepare_librimix(
    data_folder: str,
    save_folder: str,
    splits: Sequence[str] = ("train-100", "dev", "test"),
    version: str = "wav16k/min",
    mixture: str = "mix_clean",
    skip_prep: bool = False,
) -> None:
    """Writes one CSV per split.

    Arguments
    ---------
    data_folder : str
        The Libri2Mix folder.
    save_folder : str
        Where the CSV files go.
    splits : sequence of str
        Split folders (``train-100``, ``train-360``, ``dev``, ``test``).
    version : str
        Rate and mode folder, e.g. ``wav16k/min``.
    mixture : str
        Mixture folder: ``mix_clean`` or ``mix_both`` (with noise).
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
        folder = Path(data_folder) / version / split
        mixtures = sorted((folder / mixture).glob("*.wav"))
        if not mixtures:
            raise FileNotFoundError(f"No Libri2Mix mixtures in {folder / mixture}")
        rows = []
        for mix in mixtures:
            sources = [folder / source / mix.name for source in ("s1", "s2")]
            for source in sources:
                if not source.is_file():
                    raise FileNotFoundError(f"{mix} has no source {source}")
            duration = soundfile.info(str(mix)).duration
            rows.append(
                [mix.stem, f"{duration:.4f}", str(mix.resolve())]
                + [str(source.resolve()) for source in sources]
            )
        with open(out, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["ID", "duration", "mix_wav", "s1_wav", "s2_wav"])
            writer.writerows(rows)
        logger.info("%s: %d mixtures", out, len(rows))
