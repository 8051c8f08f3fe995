"""Lists of utterances to evaluate: a folder of audio files or a manifest.

Manifests follow SpeechBrain's data formats: a CSV with an ``ID`` column and
a ``wav`` (or ``path``/``file``) column, a JSON dict ``{id: {"wav": path}}``,
or a text file with one path per line. Relative paths are taken from the
manifest's folder; ``$data_root``/``{data_root}`` placeholders are replaced
by that folder too.

Authors
 * speechbrain-focalcodec developers 2026
"""

import csv
import json
from pathlib import Path
from typing import List, Tuple, Union

__all__ = ["AUDIO_EXTENSIONS", "ManifestError", "read_utterances"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")
PATH_COLUMNS = ("wav", "path", "file", "audio")


class ManifestError(ValueError):
    """A folder or manifest that lists no usable utterance."""


def _resolve(value: str, root: Path) -> Path:
    for placeholder in ("$data_root", "{data_root}"):
        value = value.replace(placeholder, str(root))
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _from_csv(path: Path) -> List[Tuple[str, Path]]:
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    if not rows:
        return []
    columns = {name.strip().lower(): name for name in rows[0]}
    column = next((columns[c] for c in PATH_COLUMNS if c in columns), None)
    if column is None:
        raise ManifestError(f"{path}: no audio column (one of {', '.join(PATH_COLUMNS)})")
    id_column = columns.get("id")
    return [
        (
            row[id_column] if id_column else Path(row[column]).stem,
            _resolve(row[column], path.parent),
        )
        for row in rows
    ]


def _from_json(path: Path) -> List[Tuple[str, Path]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object {{id: {{'wav': path}}}}")
    utterances = []
    for utt_id, entry in data.items():
        value = entry if isinstance(entry, str) else None
        if isinstance(entry, dict):
            value = next((entry[c] for c in PATH_COLUMNS if c in entry), None)
        if not isinstance(value, str):
            raise ManifestError(f"{path}: entry {utt_id!r} has no audio path")
        utterances.append((str(utt_id), _resolve(value, path.parent)))
    return utterances


def read_utterances(source: Union[str, Path]) -> List[Tuple[str, Path]]:
    """Utterance ids and audio paths of a folder (searched recursively) or manifest.

    Arguments
    ---------
    source : str or Path
        A folder, or a ``.csv``, ``.json`` or ``.txt`` manifest.

    Returns
    -------
    utterances : list of (str, Path)
        Sorted by id for folders, in manifest order otherwise.

    Raises
    ------
    ManifestError
        If the source does not exist, cannot be parsed, lists nothing, or
        repeats an id.

    Example
    -------
    >>> utterances = read_utterances("samples/voicebank-noisy-testset")
    >>> [utt_id for utt_id, _ in utterances]
    ['p226_006', 'p257_003', 'p287_007']
    """
    source = Path(source)
    if source.is_dir():
        files = [p for p in source.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS]
        utterances = sorted((p.stem, p) for p in files)
    elif source.is_file():
        suffix = source.suffix.lower()
        try:
            if suffix == ".csv":
                utterances = _from_csv(source)
            elif suffix == ".json":
                utterances = _from_json(source)
            else:
                lines = source.read_text(encoding="utf-8").splitlines()
                paths = [_resolve(line.strip(), source.parent) for line in lines if line.strip()]
                utterances = [(path.stem, path) for path in paths]
        except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
            raise ManifestError(f"Cannot parse manifest {source}: {error}") from None
    else:
        raise ManifestError(f"No such folder or manifest: {source}")
    if not utterances:
        raise ManifestError(f"No audio files found in {source}")
    ids = [utt_id for utt_id, _ in utterances]
    repeated = sorted({utt_id for utt_id in ids if ids.count(utt_id) > 1})
    if repeated:
        raise ManifestError(f"Repeated utterance ids in {source}: {', '.join(repeated[:5])}")
    return utterances
