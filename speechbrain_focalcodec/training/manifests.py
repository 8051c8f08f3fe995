"""JSON manifests of audio files, shared by the data preparation scripts.

A manifest maps utterance ids to ``{"wav", "duration", "sample_rate"}`` (plus
``"spk_id"`` where known). Paths are stored relative to a root written as
``{data_root}`` (the original audio) or ``{resample_root}`` (16 kHz copies
made once by the preparation), so that manifests survive moving the data;
``dataio.py`` substitutes the roots when loading.

Authors
 * speechbrain-focalcodec developers 2026
"""

import json
import logging
from multiprocessing.pool import ThreadPool
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import soundfile
from tqdm import tqdm

from speechbrain_focalcodec.audio import AudioError, load_audio
from speechbrain_focalcodec.files import atomic_path, atomic_write_text

__all__ = [
    "AUDIO_EXTENSIONS",
    "DECODE_CACHE",
    "DataPreparationError",
    "DecodeCache",
    "audio_entry",
    "decode_check",
    "entries_for",
    "find_audio_files",
    "is_prepared",
    "utterance_ids",
    "write_manifests",
]

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus")
OPTIONS_FILE = "preparation.json"
# What decoding each listed file found, next to the manifests (a rerun is fast).
DECODE_CACHE = "decoded_audio.json"


class DataPreparationError(RuntimeError):
    """The data cannot be prepared (missing folder, no audio, bad options)."""


def find_audio_files(folder: Path, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> List[Path]:
    """All audio files below ``folder`` (recursively), sorted.

    Arguments
    ---------
    folder : Path
        Folder to search.
    extensions : sequence of str
        File endings that count as audio (case-insensitive).

    Returns
    -------
    files : list of Path

    Example
    -------
    >>> folder = Path(getfixture("tmpdir"))
    >>> (folder / "a").mkdir()
    >>> for name in ("a/x.WAV", "b.flac", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [str(f.relative_to(folder)) for f in find_audio_files(folder)]
    ['a/x.WAV', 'b.flac']
    """
    endings = tuple(ext.lower() for ext in extensions)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in endings)


def decode_check(path: Path) -> Dict[str, int]:
    """Decodes a whole audio file (block by block) and checks its samples.

    Arguments
    ---------
    path : Path
        Audio file.

    Returns
    -------
    facts : dict
        ``frames`` (decoded, not the header's count) and ``rate``.

    Raises
    ------
    AudioError
        If the file cannot be decoded to the end, is empty or holds NaN/inf samples.

    Example
    -------
    >>> path = Path(getfixture("tmp_path")) / "a.wav"
    >>> soundfile.write(str(path), [0.0, 0.5, float("nan")], 8000, subtype="FLOAT")
    >>> decode_check(path)
    Traceback (most recent call last):
    ...
    speechbrain_focalcodec.audio.AudioError: Audio file .../a.wav contains NaN or infinite samples
    """
    frames = 0
    try:
        rate = soundfile.info(str(path)).samplerate
        for block in soundfile.blocks(str(path), blocksize=1 << 16, dtype="float32"):
            if not np.isfinite(block).all():
                raise AudioError(f"Audio file {path} contains NaN or infinite samples")
            frames += block.shape[0]
    except AudioError:
        raise
    except Exception as error:  # libsndfile raises several types
        raise AudioError(f"Cannot read audio file {path}: {error}") from None
    if frames == 0:
        raise AudioError(f"Audio file {path} has no samples")
    return {"frames": frames, "rate": rate}


class DecodeCache:
    """Results of ``decode_check`` kept in a JSON file, keyed by path, size and mtime.

    A rerun of the preparation decodes only new or changed files.

    Arguments
    ---------
    path : Path, optional
        The JSON file (None: nothing is kept).

    Example
    -------
    >>> folder = Path(getfixture("tmp_path"))
    >>> audio = folder / "a.wav"
    >>> soundfile.write(str(audio), [0.1] * 80, 8000)
    >>> cache = DecodeCache(folder / "cache.json")
    >>> cache.check(audio)
    {'frames': 80, 'rate': 8000}
    >>> cache.save()
    >>> sorted(DecodeCache(folder / "cache.json").records.values())[0]["frames"]
    80
    """

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = path
        self.records: Dict[str, Dict[str, Any]] = {}
        if path is not None and path.is_file():
            try:
                records = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(records, dict):
                    self.records = records
            except (OSError, ValueError):
                logger.warning("Ignoring the unreadable decode cache %s", path)

    @staticmethod
    def _stamp(path: Path) -> Dict[str, int]:
        stat = path.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def check(self, path: Path) -> Dict[str, Any]:
        """``decode_check``, from the cache when the file did not change.

        Arguments
        ---------
        path : Path
            Audio file.

        Returns
        -------
        facts : dict
            ``frames`` and ``rate``, or ``problem`` (why the file is unusable).
        """
        key = str(path.resolve())
        try:
            stamp = self._stamp(path)
        except OSError as error:
            return {"problem": f"Cannot read audio file {path}: {error.strerror or error}"}
        record = self.records.get(key)
        if isinstance(record, dict) and all(record.get(k) == v for k, v in stamp.items()):
            return {k: v for k, v in record.items() if k not in stamp}
        try:
            facts: Dict[str, Any] = decode_check(path)
        except AudioError as error:
            facts = {"problem": str(error)}
        self.records[key] = {**stamp, **facts}
        return facts

    def save(self) -> None:
        """Writes the cache (whole or not at all)."""
        if self.path is not None:
            atomic_write_text(self.path, json.dumps(self.records, indent=1, sort_keys=True))


def audio_entry(
    path: Path,
    data_root: Path,
    sample_rate: int,
    resample_root: Optional[Path] = None,
    cache: Optional[DecodeCache] = None,
) -> Optional[Dict[str, Any]]:
    """Manifest entry of one audio file, or None (with a warning) if it is unusable.

    The whole file is decoded (see ``decode_check``): unreadable, truncated, empty
    files and files holding NaN or infinite samples are skipped. With
    ``resample_root``, a copy at ``sample_rate`` (mono FLAC) is written there once,
    under the same relative path, and the entry points to it.

    Arguments
    ---------
    path : Path
        Audio file below ``data_root``.
    data_root : Path
        Root of the original audio.
    sample_rate : int
        Rate of the model input (the rate of the copies).
    resample_root : Path, optional
        Root of the resampled copies.
    cache : DecodeCache, optional
        Earlier decoding results.

    Returns
    -------
    entry : dict or None
        ``wav``, ``duration`` (seconds, from the decoded samples), ``sample_rate``
        (of the file the entry points to).
    """
    relative = path.relative_to(data_root)
    facts = (cache or DecodeCache()).check(path)
    if "problem" in facts:
        logger.warning("Skipping %s", facts["problem"])
        return None
    duration = facts["frames"] / facts["rate"]
    if resample_root is None:
        return {
            "wav": f"{{data_root}}/{relative.as_posix()}",
            "duration": duration,
            "sample_rate": facts["rate"],
        }
    target = (resample_root / relative).with_suffix(".flac")
    if not target.is_file():
        try:
            sig = load_audio(path, sample_rate)
        except AudioError as error:
            logger.warning("Skipping %s", error)
            return None
        # Written under another name first: an interrupted copy is never taken for a whole one.
        with atomic_path(target) as partial:
            soundfile.write(str(partial), sig.numpy(), sample_rate, "PCM_16", format="FLAC")
    return {
        "wav": f"{{resample_root}}/{relative.with_suffix('.flac').as_posix()}",
        "duration": duration,
        "sample_rate": sample_rate,
    }


def is_prepared(manifests: Iterable[Path], options: Mapping[str, Any]) -> bool:
    """Whether the manifests exist and were made with the same options.

    Arguments
    ---------
    manifests : iterable of Path
        Manifest files.
    options : mapping
        Options of the preparation (JSON-serializable).

    Returns
    -------
    prepared : bool
    """
    manifests = list(manifests)
    if not all(path.is_file() for path in manifests):
        return False
    record = manifests[0].parent / OPTIONS_FILE
    try:
        return json.loads(record.read_text()) == json.loads(json.dumps(dict(options)))
    except (OSError, ValueError):
        return False


def write_manifests(
    splits: Mapping[Path, Mapping[str, Mapping[str, Any]]], options: Mapping[str, Any]
) -> None:
    """Writes manifests, then the record of the options that made them.

    Arguments
    ---------
    splits : mapping
        Manifest path -> {utterance id -> entry}.
    options : mapping
        Options of the preparation, recorded for ``is_prepared``.
    """
    paths = list(splits)
    for path, entries in splits.items():
        if not entries:
            raise DataPreparationError(f"No usable audio for {path.name}")
        atomic_write_text(path, json.dumps(dict(entries), indent=2))
        total = sum(entry["duration"] for entry in entries.values()) / 3600
        logger.info("Wrote %s: %d utterances, %.2f h", path, len(entries), total)
    atomic_write_text(paths[0].parent / OPTIONS_FILE, json.dumps(dict(options), indent=2))


def utterance_ids(files: Sequence[Path], data_root: Path) -> Dict[Path, str]:
    """Utterance id of each file: its name without extension, or, if names repeat
    anywhere in ``files``, its path below ``data_root`` with ``_`` for ``/``.

    Arguments
    ---------
    files : sequence of Path
        All the audio files of a dataset.
    data_root : Path
        Their root.

    Returns
    -------
    ids : dict
        File -> utterance id.

    Example
    -------
    >>> root = Path("/data")
    >>> utterance_ids([root / "a/x.wav", root / "b/y.wav"], root)[root / "b/y.wav"]
    'y'
    >>> utterance_ids([root / "a/x.wav", root / "b/x.wav"], root)[root / "b/x.wav"]
    'b_x'
    """
    stems = [f.stem for f in files]
    if len(set(stems)) == len(stems):
        return {f: f.stem for f in files}
    return {f: f.relative_to(data_root).with_suffix("").as_posix().replace("/", "_") for f in files}


def entries_for(
    files: Sequence[Path],
    ids: Mapping[Path, str],
    data_root: Path,
    sample_rate: int,
    resample_root: Optional[Path],
    description: str,
    cache: Optional[DecodeCache] = None,
    num_workers: int = 4,
) -> Dict[str, Dict[str, Any]]:
    """Manifest entries of ``files`` keyed by utterance id; unusable files skipped.

    Files are decoded by ``num_workers`` threads (decoding and resampling release
    the interpreter lock) behind a progress bar; each skipped file gets one warning,
    and their number is logged.

    Arguments
    ---------
    files : sequence of Path
        Audio files below ``data_root``.
    ids : mapping
        Utterance id of each file (see ``utterance_ids``).
    data_root : Path
        Root of the original audio.
    sample_rate : int
        Model input rate.
    resample_root : Path, optional
        Root of resampled copies (None: no copies).
    description : str
        Progress bar label.
    cache : DecodeCache, optional
        Earlier decoding results (updated, not saved).
    num_workers : int
        Decoding threads (at least 1).

    Returns
    -------
    entries : dict

    Example
    -------
    >>> root = Path(getfixture("tmp_path"))
    >>> soundfile.write(str(root / "good.wav"), [0.1] * 160, 16000)
    >>> _ = (root / "bad.wav").write_bytes(b"RIFF....")
    >>> files = [root / "bad.wav", root / "good.wav"]
    >>> entries = entries_for(files, {f: f.stem for f in files}, root, 16000, None, "demo")
    >>> list(entries), entries["good"]["duration"]
    (['good'], 0.01)
    """
    cache = cache if cache is not None else DecodeCache()

    def entry(path: Path) -> Optional[Dict[str, Any]]:
        return audio_entry(path, data_root, sample_rate, resample_root, cache)

    workers = max(1, min(int(num_workers), len(files)))
    entries = {}
    with ThreadPool(workers) as pool:
        results = pool.imap(entry, files)
        for path, result in tqdm(
            zip(files, results), total=len(files), desc=description, dynamic_ncols=True
        ):
            if result is not None:
                entries[ids[path]] = result
    skipped = len(files) - len(entries)
    if skipped:
        logger.warning(
            "%s: skipped %d of %d audio files (unreadable, empty or non-finite; see above)",
            description,
            skipped,
            len(files),
        )
    return entries
