"""Token files, dataset manifests and the token pipelines of recipes.

Extracted tokens live in one file per utterance and audio field,
``<tokens_folder>/<audio_key>/<id>.npy`` (unsigned 16-bit for codebooks of at
most 2^16 entries), and a token manifest repeats the dataset manifest with one
more field per audio field, ``<audio_key>_toks_file``.

Recipes read tokens through two dynamic items per audio field (see
``add_audio_pipelines``): ``<audio_key>_toks`` (the token file, when the
manifest has one) and ``<audio_key>_sig`` (the waveform at the codec's input
rate). ``BatchTokenizer`` gives the tokens of a batch from either: read from
files, or computed on the fly by the codec (and cached per utterance).

Authors
 * speechbrain-focalcodec developers 2026
"""

import csv
import io
import json
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import numpy as np
import torch
from speechbrain.dataio.dataio import load_data_csv, load_data_json
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.data_pipeline import provides, takes
from speechbrain.utils.data_utils import batch_pad_right
from torch import Tensor

from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.files import atomic_write_bytes, atomic_write_text
from speechbrain_focalcodec.ops.padding import lens_to_counts
from speechbrain_focalcodec.tokenizer import FocalCodecTokenizer

__all__ = [
    "BatchTokenizer",
    "ManifestError",
    "add_audio_pipelines",
    "load_toks",
    "read_manifest",
    "save_toks",
    "toks_field",
    "toks_path",
    "write_manifest",
]

Manifest = Dict[str, Dict[str, object]]


class ManifestError(ValueError):
    """A dataset manifest cannot be used."""


def toks_field(audio_key: str) -> str:
    """Name of the manifest field holding the token file of ``audio_key``.

    Arguments
    ---------
    audio_key : str
        Manifest field of an audio file (``wav``, ``noisy_wav``...).

    Returns
    -------
    field : str

    Example
    -------
    >>> toks_field("noisy_wav")
    'noisy_wav_toks_file'
    """
    return f"{audio_key}_toks_file"


def toks_path(tokens_folder: Union[str, Path], audio_key: str, utt_id: str) -> Path:
    """Token file of one utterance: any id maps to a single safe file name.

    Arguments
    ---------
    tokens_folder : str or Path
        Root of the extracted tokens.
    audio_key : str
        Manifest field of the audio file.
    utt_id : str
        Utterance id.

    Returns
    -------
    path : Path

    Example
    -------
    >>> toks_path("tokens", "wav", "84-121123-0000").as_posix()
    'tokens/wav/84-121123-0000.npy'
    >>> toks_path("tokens", "wav", "a/b c").name
    'a%2Fb%20c.npy'
    """
    return Path(tokens_folder) / audio_key / f"{quote(utt_id, safe='')}.npy"


def save_toks(path: Union[str, Path], toks: Tensor, codebook_size: int) -> None:
    """Writes the tokens of one utterance atomically.

    A file either holds all its tokens or does not exist, so that an
    interrupted extraction resumes by skipping the files that exist.

    Arguments
    ---------
    path : str or Path
        Destination ``.npy`` file.
    toks : torch.Tensor
        Tokens ``[tokens]`` of one utterance (no padding).
    codebook_size : int
        Entries of the codebook: picks the integer type of the file.

    Example
    -------
    >>> path = getfixture("tmpdir") / "toks.npy"
    >>> save_toks(path, torch.tensor([0, 5, 8191]), 8192)
    >>> load_toks(path)
    tensor([   0,    5, 8191])
    """
    if toks.ndim != 1:
        raise ValueError(f"Tokens of one utterance must be 1-D, got shape {list(toks.shape)}")
    dtype = np.uint16 if codebook_size <= 2**16 else np.int32
    buffer = io.BytesIO()
    np.save(buffer, toks.cpu().numpy().astype(dtype))
    atomic_write_bytes(path, buffer.getvalue())


def load_toks(path: Union[str, Path]) -> Tensor:
    """Reads the tokens of one utterance.

    Arguments
    ---------
    path : str or Path
        A file written by ``save_toks``.

    Returns
    -------
    toks : torch.Tensor
        ``[tokens]``, int64.
    """
    try:
        array = np.load(str(path), allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ManifestError(f"Cannot read token file {path}: {error}") from None
    return torch.from_numpy(array.astype(np.int64))


def read_manifest(
    path: Union[str, Path], replacements: Optional[Dict[str, str]] = None
) -> Manifest:
    """Reads a SpeechBrain manifest: JSON (id -> fields) or CSV (an ``ID`` column).

    Arguments
    ---------
    path : str or Path
        ``.json`` or ``.csv`` file.
    replacements : dict, optional
        SpeechBrain placeholders, e.g. ``{"data_root": "/data"}`` for
        ``{data_root}`` (JSON) or ``$data_root`` (CSV).

    Returns
    -------
    data : dict
        Utterance id -> fields.

    Example
    -------
    >>> path = getfixture("tmpdir") / "data.csv"
    >>> _ = path.write_text("ID,duration,wav\\nutt1,1.5,$data_root/utt1.wav\\n", "utf-8")
    >>> read_manifest(path, {"data_root": "/data"})
    {'utt1': {'duration': 1.5, 'wav': '/data/utt1.wav'}}
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"No such manifest: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ManifestError(f"Manifests are .json or .csv files, got {path}")
    try:
        if suffix == ".json":
            data = load_data_json(str(path), replacements or {})
        else:
            data = load_data_csv(str(path), replacements or {})
    except (ValueError, KeyError) as error:
        raise ManifestError(f"Cannot read manifest {path}: {error!r}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ManifestError(f"Manifest {path} must map utterance ids to fields")
    return data


def write_manifest(path: Union[str, Path], data: Manifest) -> None:
    """Writes a SpeechBrain manifest (JSON or CSV by suffix), atomically.

    Arguments
    ---------
    path : str or Path
        ``.json`` or ``.csv`` file.
    data : dict
        Utterance id -> fields (the same fields for every utterance in CSV).

    Example
    -------
    >>> path = getfixture("tmpdir") / "out.csv"
    >>> write_manifest(path, {"utt1": {"duration": 1.5, "wav": "a.wav"}})
    >>> read_manifest(path)
    {'utt1': {'duration': 1.5, 'wav': 'a.wav'}}
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2)
    elif path.suffix.lower() == ".csv":
        fields = list(next(iter(data.values()), {}))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["ID", *fields])
        for utt_id, entry in data.items():
            if list(entry) != fields:
                raise ManifestError(f"CSV rows need the same fields: {utt_id} has {list(entry)}")
            writer.writerow([utt_id, *entry.values()])
        text = buffer.getvalue()
    else:
        raise ManifestError(f"Manifests are .json or .csv files, got {path}")
    atomic_write_text(path, text)


def add_audio_pipelines(
    datasets: Iterable[DynamicItemDataset],
    audio_keys: Sequence[str],
    sample_rate: int,
    tokens: bool = True,
    audio: bool = True,
) -> None:
    """Adds, for each audio field ``K``, the dynamic items ``K_toks`` and ``K_sig``.

    ``K_toks`` (int64 tokens read from ``<K>_toks_file``) is added to the
    datasets whose manifest has token files; ``K_sig`` (the waveform at
    ``sample_rate``, mono) to all of them.

    Arguments
    ---------
    datasets : iterable of DynamicItemDataset
        Datasets to extend.
    audio_keys : sequence of str
        Audio fields of the manifests.
    sample_rate : int
        Rate of the ``K_sig`` waveforms (the codec's input rate).
    tokens : bool
        Whether to add ``K_toks`` where token files are listed.
    audio : bool
        Whether to add ``K_sig``.
    """
    for dataset in datasets:
        first = next(iter(dataset.data.values()), {})
        for key in audio_keys:
            if tokens and toks_field(key) in first:
                dataset.add_dynamic_item(_toks_pipeline(key))
            if audio:
                dataset.add_dynamic_item(_sig_pipeline(key, sample_rate))


def _toks_pipeline(key: str):
    @takes(toks_field(key))
    @provides(f"{key}_toks")
    def pipeline(path: str) -> Tensor:
        return load_toks(path)

    return pipeline


def _sig_pipeline(key: str, sample_rate: int):
    @takes(key)
    @provides(f"{key}_sig")
    def pipeline(path: str) -> Tensor:
        return load_audio(path, sample_rate)

    return pipeline


class BatchTokenizer:
    """Tokens of an audio field of a padded batch, read or computed on the fly.

    When the batch holds ``<audio_key>_toks`` (extracted token files) those
    are returned; otherwise the codec tokenizes ``<audio_key>_sig`` on the
    batch's device. Exact batching makes each utterance's tokens independent
    of its batch, so computed tokens are cached per utterance id (on CPU)
    and later epochs reuse them.

    Arguments
    ---------
    tokenizer : FocalCodecTokenizer or FocalCodec
        The (frozen) codec.
    cache : bool
        Whether to keep tokens computed on the fly.

    Example
    -------
    >>> from speechbrain.dataio.batch import PaddedBatch
    >>> tokenizer = BatchTokenizer(FocalCodec.from_pretrained("tests/golden/tiny_50hz"))
    >>> batch = PaddedBatch([
    ...     {"id": "a", "wav_sig": torch.randn(16000)},
    ...     {"id": "b", "wav_sig": torch.randn(8000)},
    ... ])
    >>> toks, lens = tokenizer(batch, "wav")
    >>> toks.shape, lens
    (torch.Size([2, 49]), tensor([1.0000, 0.4898]))
    >>> len(tokenizer.cached)
    2
    """

    def __init__(self, tokenizer: Union[FocalCodecTokenizer, FocalCodec], cache: bool = True):
        codec = tokenizer.codec if isinstance(tokenizer, FocalCodecTokenizer) else tokenizer
        if not isinstance(codec, FocalCodec):
            raise TypeError(
                f"Expected a FocalCodecTokenizer or FocalCodec, got {type(tokenizer).__name__}"
            )
        self.codec = codec.eval().requires_grad_(False)
        self.cache = cache
        self.cached: Dict[Tuple[str, str], Tensor] = {}

    @torch.no_grad()
    def __call__(self, batch, audio_key: str) -> Tuple[Tensor, Tensor]:
        """Tokens ``[B, N]`` (int64, zero past each end) and their relative lengths.

        Arguments
        ---------
        batch : speechbrain.dataio.batch.PaddedBatch
            Holds ``id`` and ``<audio_key>_toks`` or ``<audio_key>_sig``.
        audio_key : str
            The audio field.

        Returns
        -------
        toks : torch.Tensor
        lens : torch.Tensor
        """
        if hasattr(batch, f"{audio_key}_toks"):
            toks, lens = getattr(batch, f"{audio_key}_toks")
            return toks, lens
        if not hasattr(batch, f"{audio_key}_sig"):
            raise KeyError(
                f"The batch has neither `{audio_key}_toks` nor `{audio_key}_sig`: "
                "add them with add_audio_pipelines"
            )
        sig, sig_lens = getattr(batch, f"{audio_key}_sig")
        names = [(audio_key, utt_id) for utt_id in batch.id]
        if self.cache and all(name in self.cached for name in names):
            toks, lens = batch_pad_right([self.cached[name] for name in names])
            return toks.to(sig.device), lens.to(sig.device)
        self.codec.to(sig.device)
        toks = self.codec.sig_to_toks(sig, sig_lens)
        lens = self.codec.toks_lens(sig_lens, sig.shape[1])
        if self.cache:
            counts = lens_to_counts(lens, toks.shape[1]).tolist()
            for name, row, count in zip(names, toks, counts):
                self.cached[name] = row[:count].cpu()
        return toks, lens
