#!/usr/bin/env python3
"""Data preparation for any folder of audio files (any language, format or rate).

Every audio file below the folder (wav, flac, ogg, mp3, opus; any sample rate
and channel count) becomes an utterance; a seeded random draw holds out a
fraction of them for validation and test. Audio is resampled to the model
rate on the fly, or once into ``resample_folder``.

Standalone use:
> python -m speechbrain_focalcodec.training.folder_prepare <audio folder> <output folder>
      [--valid_ratio 0.05] [--num_workers 4]

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import logging
import random
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Union

from speechbrain_focalcodec.training.manifests import (
    AUDIO_EXTENSIONS,
    DECODE_CACHE,
    DataPreparationError,
    DecodeCache,
    entries_for,
    find_audio_files,
    is_prepared,
    utterance_ids,
    write_manifests,
)

__all__ = ["prepare_folder", "split_files"]

logger = logging.getLogger(__name__)


def split_files(
    files: Sequence[Path], valid_ratio: float, test_ratio: float, seed: int
) -> List[List[Path]]:
    """Seeded random split of files into train, valid and test.

    Each held-out split with a non-zero ratio gets at least one file.

    Arguments
    ---------
    files : sequence of Path
        The files (their order does not matter).
    valid_ratio : float
        Fraction for validation, in [0, 1).
    test_ratio : float
        Fraction for test, in [0, 1).
    seed : int
        Seed of the draw.

    Returns
    -------
    splits : list
        ``[train, valid, test]`` lists of files, each sorted.

    Example
    -------
    >>> files = [Path(f"{i}.wav") for i in range(10)]
    >>> [len(split) for split in split_files(files, 0.2, 0.1, seed=0)]
    [7, 2, 1]
    """
    for name, ratio in (("valid_ratio", valid_ratio), ("test_ratio", test_ratio)):
        if not 0.0 <= ratio < 1.0:
            raise DataPreparationError(f"`{name}` must lie in [0, 1), got {ratio}")
    counts = [
        max(1, round(ratio * len(files))) if ratio > 0 else 0 for ratio in (valid_ratio, test_ratio)
    ]
    if sum(counts) >= len(files):
        raise DataPreparationError(
            f"{len(files)} audio files cannot give {counts[0]} validation, {counts[1]} test "
            "and at least one training file"
        )
    shuffled = sorted(files)
    random.Random(seed).shuffle(shuffled)
    valid = shuffled[: counts[0]]
    test = shuffled[counts[0] : counts[0] + counts[1]]
    train = shuffled[counts[0] + counts[1] :]
    return [sorted(train), sorted(valid), sorted(test)]


def prepare_folder(
    data_folder: Union[str, Path],
    train_json: Union[str, Path],
    valid_json: Union[str, Path],
    test_json: Union[str, Path],
    sample_rate: int = 16000,
    valid_ratio: float = 0.05,
    test_ratio: float = 0.05,
    seed: int = 0,
    resample_folder: Optional[Union[str, Path]] = None,
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
    skip_prep: bool = False,
    num_workers: int = 4,
) -> None:
    """Writes train / valid / test manifests for all the usable audio files of a folder.

    Nothing is done if the manifests exist and were made with the same
    options. Every file is decoded once (in ``num_workers`` threads; the results
    are kept in ``decoded_audio.json`` next to the manifests, so a rerun decodes only
    new or changed files): unreadable, truncated, empty and non-finite files are
    skipped with one warning each.

    Arguments
    ---------
    data_folder : str or Path
        Folder searched recursively for audio files.
    train_json : str or Path
        Output manifest of the training split.
    valid_json : str or Path
        Output manifest of the validation split.
    test_json : str or Path
        Output manifest of the test split.
    sample_rate : int
        Model input rate.
    valid_ratio : float
        Fraction of the files held out for validation.
    test_ratio : float
        Fraction of the files held out for test.
    seed : int
        Seed of the split.
    resample_folder : str or Path, optional
        Where to write copies at ``sample_rate`` (None: resample on the fly).
    extensions : sequence of str
        File endings that count as audio.
    skip_prep : bool
        Do nothing.
    num_workers : int
        Decoding threads.
    """
    if skip_prep:
        return
    data_folder = Path(data_folder).resolve()
    jsons = [Path(train_json), Path(valid_json), Path(test_json)]
    options = {
        "dataset": "folder",
        "data_folder": str(data_folder),
        "sample_rate": sample_rate,
        "valid_ratio": valid_ratio,
        "test_ratio": test_ratio,
        "seed": seed,
        "resample_folder": None
        if resample_folder is None
        else str(Path(resample_folder).resolve()),
        "extensions": list(extensions),
    }
    if is_prepared(jsons, options):
        logger.info("Data preparation done before with the same options, skipping")
        return
    if not data_folder.is_dir():
        raise DataPreparationError(f"Audio folder not found: {data_folder}")
    files = find_audio_files(data_folder, extensions)
    if not files:
        raise DataPreparationError(
            f"No audio files ({', '.join(extensions)}) found below {data_folder}"
        )
    resample_root = None if resample_folder is None else Path(options["resample_folder"])
    ids = utterance_ids(files, data_folder)
    cache = DecodeCache(jsons[0].parent / DECODE_CACHE)
    try:
        entries = entries_for(
            files, ids, data_folder, sample_rate, resample_root, "decoding", cache, num_workers
        )
    finally:
        cache.save()
    # The split is drawn among the usable files only.
    usable = [path for path in files if ids[path] in entries]
    if not usable:
        raise DataPreparationError(f"No usable audio file below {data_folder} (see the warnings)")
    splits = split_files(usable, valid_ratio, test_ratio, seed)
    manifests = {
        path: {ids[file]: entries[ids[file]] for file in split}
        for path, split in zip(jsons, splits)
    }
    write_manifests(manifests, options)


def main(argv: Sequence[str]) -> int:
    """Command line: ``python -m speechbrain_focalcodec.training.folder_prepare <in> <out>``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_folder", help="folder searched recursively for audio files")
    parser.add_argument("output_folder", help="where train.json, valid.json, test.json go")
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--valid_ratio", type=float, default=0.05)
    parser.add_argument("--test_ratio", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resample_folder", default=None, help="write resampled copies here")
    parser.add_argument("--num_workers", type=int, default=4, help="decoding threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    output = Path(args.output_folder)
    try:
        prepare_folder(
            args.data_folder,
            output / "train.json",
            output / "valid.json",
            output / "test.json",
            args.sample_rate,
            args.valid_ratio,
            args.test_ratio,
            args.seed,
            args.resample_folder,
            num_workers=args.num_workers,
        )
    except DataPreparationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
