"""Datasets of FocalCodec tokens for recipes: extracted files or on the fly.

Authors
 * speechbrain-focalcodec developers 2026
"""

from pathlib import Path
from typing import Collection, Dict, Optional, Sequence, Union

import torch
from speechbrain.dataio.dataset import DynamicItemDataset

from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.dataio import add_audio_pipelines
from speechbrain_focalcodec.extraction import extract_tokens
from speechbrain_focalcodec.tokenizer import FocalCodecTokenizer

__all__ = ["token_datasets"]


def token_datasets(
    manifests: Dict[str, Union[str, Path]],
    tokenizer: Union[FocalCodecTokenizer, FocalCodec],
    audio_keys: Sequence[str],
    tokens_folder: Optional[Union[str, Path]] = None,
    audio_splits: Collection[str] = (),
    batch_size: int = 16,
    device: Union[str, torch.device, None] = None,
    progress: bool = True,
    sorting: str = "ascending",
) -> Dict[str, DynamicItemDataset]:
    """Builds the datasets of a recipe, with ``<key>_toks`` and/or ``<key>_sig``.

    With a ``tokens_folder``, the tokens of every manifest are extracted there
    first (skipping those already extracted; each process of a DDP run takes
    its share) and the datasets read the token files. Without one, the
    datasets read the audio and ``BatchTokenizer`` tokenizes on the fly.

    Arguments
    ---------
    manifests : dict
        Split name -> SpeechBrain ``.csv`` or ``.json`` manifest.
    tokenizer : FocalCodecTokenizer or FocalCodec
        The codec.
    audio_keys : sequence of str
        Audio fields of the manifests.
    tokens_folder : str or Path, optional
        Where to extract tokens; None tokenizes on the fly.
    audio_splits : collection of str
        Splits that also read the waveforms (e.g. references for evaluation).
    batch_size : int
        Extraction batch size.
    device : str or torch.device, optional
        Where the codec extracts tokens.
    progress : bool
        Whether extraction shows a progress bar.
    sorting : str
        Order of the ``train`` split by ``duration``: ``ascending``,
        ``descending`` or ``random`` (kept as is, to be shuffled by the
        loader); the other splits are sorted by ascending duration.

    Returns
    -------
    datasets : dict
        Split name -> DynamicItemDataset.

    Example
    -------
    >>> from speechbrain_focalcodec.dataio import write_manifest
    >>> tmp = getfixture("tmpdir")
    >>> wav = "samples/librispeech-dev-clean/84-121123-0000.flac"
    >>> write_manifest(tmp / "test.json", {"utt1": {"wav": wav, "duration": 3.3}})
    >>> codec = FocalCodec.from_pretrained("tests/golden/tiny_50hz")
    >>> data = token_datasets({"test": tmp / "test.json"}, codec, ["wav"], tmp / "toks",
    ...                       progress=False)
    >>> data["test"].set_output_keys(["id", "wav_toks"])
    >>> data["test"][0]["wav_toks"].shape
    torch.Size([104])
    """
    if sorting not in ("ascending", "descending", "random"):
        raise ValueError(f"sorting must be ascending, descending or random, got {sorting!r}")
    codec = tokenizer.codec if isinstance(tokenizer, FocalCodecTokenizer) else tokenizer
    datasets = {}
    for name, manifest in manifests.items():
        if tokens_folder is not None:
            manifest = extract_tokens(
                codec,
                manifest,
                tokens_folder,
                audio_keys=audio_keys,
                batch_size=batch_size,
                device=device,
                progress=progress,
            )
            if manifest is None:
                raise RuntimeError("Token extraction is incomplete: other shards are missing")
        manifest = Path(manifest)
        if manifest.suffix.lower() == ".json":
            dataset = DynamicItemDataset.from_json(str(manifest))
        else:
            dataset = DynamicItemDataset.from_csv(str(manifest))
        add_audio_pipelines(
            [dataset],
            audio_keys,
            codec.sample_rate_input,
            audio=tokens_folder is None or name in audio_splits,
        )
        if name != "train" or sorting != "random":
            reverse = name == "train" and sorting == "descending"
            dataset = dataset.filtered_sorted(sort_key="duration", reverse=reverse)
        datasets[name] = dataset
    return datasets
