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
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import soundfile
from speechbrain.dataio import audio_io
from tqdm import tqdm

from speechbrain_focalcodec.audio import AudioError, load_audio

__all__ = [
    "AUDIO_EXTENSIONS",
    "DataPreparationError",
    "audio_entry",
    "entries_for",
    "find_audio_files",
    "is_prepared",
    "utterance_ids",
    "write_manifests",
]

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus")
OPTIONS_FILE = "preparation.json"


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


def audio_entry(
    path: Path,
    data_root: Path,
    sample_rate: int,
    resample_root: Optional[Path] = None,
) -> Optional[Dict[str, Any]]:
    """Manifest entry of one audio file, or None (with a warning) if it is unreadable.

    With ``resample_root``, a copy at ``sample_rate`` (mono FLAC) is written
    there once, under the same relative path, and the entry points to it.

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

    Returns
    -------
    entry : dict or None
        ``wav``, ``duration`` (seconds), ``sample_rate`` (of the file the
        entry points to).
    """
    relative = path.relative_to(data_root)
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # libsndfile raises several types
        logger.warning("Skipping unreadable audio file %s: %s", path, error)
        return None
    if info.frames == 0:
        logger.warning("Skipping empty audio file %s", path)
        return None
    duration = info.frames / info.samplerate
    if resample_root is None:
        return {
            "wav": f"{{data_root}}/{relative.as_posix()}",
            "duration": duration,
            "sample_rate": info.samplerate,
        }
    target = (resample_root / relative).with_suffix(".flac")
    if not target.is_file():
        try:
            sig = load_audio(path, sample_rate)
        except AudioError as error:
            logger.warning("Skipping %s", error)
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written under another name first: an interrupted copy is never taken for a whole one.
        partial = target.with_name(f"{target.stem}.partial.flac")
        audio_io.save(str(partial), sig, sample_rate, subtype="PCM_16")
        partial.replace(target)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            json.dump(dict(entries), stream, indent=2)
        total = sum(entry["duration"] for entry in entries.values()) / 3600
        logger.info("Wrote %s: %d utterances, %.2f h", path, len(entries), total)
    (paths[0].parent / OPTIONS_FILE).write_text(json.dumps(dict(options), indent=2))


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
) -> Dict[str, Dict[str, Any]]:
    """Manifest entries of ``files`` keyed by utterance id.

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

    Returns
    -------
    entries : dict
    """
    entries = {}
    for path in tqdm(files, desc=description, dynamic_ncols=True):
        entry = audio_entry(path, data_root, sample_rate, resample_root)
        if entry is not None:
            entries[ids[path]] = entry
    return entries
