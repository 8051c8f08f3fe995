"""Token extraction for a dataset manifest: batched, resumable, shardable.

``extract_tokens`` reads a SpeechBrain manifest (JSON or CSV), tokenizes the
audio files of the given fields with a ``FocalCodec`` in padded batches (exact
batching: a file's tokens do not depend on the batch size or on its batch
mates), writes one token file per utterance and field (see
``speechbrain_focalcodec.dataio``) and, once every file exists, a token
manifest that repeats the input one with a ``<audio_key>_toks_file`` field
per audio field.

* Resumable: token files are written atomically and existing ones are
  skipped, so a killed run continues where it stopped.
* Shardable: under ``torchrun`` (or with ``rank``/``world_size``) each process
  takes every ``world_size``-th file in duration order; the token manifest is
  written when the last shard is done.
* A tokens folder belongs to one codec: the weights that make tokens are
  fingerprinted in ``codec.json`` and a different codec is refused.

Command line (``focalcodec extract-tokens --help``, or
``python -m speechbrain_focalcodec.extraction`` under ``torchrun``)::

    torchrun --nproc_per_node 4 -m speechbrain_focalcodec.extraction \\
        train.json --model lucadellalib/focalcodec_50hz --output tokens --device cuda

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from speechbrain_focalcodec.audio import AudioError, load_audio
from speechbrain_focalcodec.bitstream import model_fingerprint
from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.command_line import (
    add_common_options,
    add_option,
    non_negative_int,
    parse,
    positive_int,
    run_command,
    usage_status,
)
from speechbrain_focalcodec.dataio import (
    ManifestError,
    read_manifest,
    save_toks,
    toks_field,
    toks_path,
    write_manifest,
)
from speechbrain_focalcodec.files import atomic_write_text, make_folder
from speechbrain_focalcodec.ops.padding import lens_to_counts
from speechbrain_focalcodec.tokenizer import FocalCodecTokenizer

__all__ = ["ExtractionError", "codec_fingerprint", "extract_tokens", "main"]

logger = logging.getLogger(__name__)

CODEC_FILE = "codec.json"


class ExtractionError(RuntimeError):
    """Token extraction cannot go on; the message says why, in one line.

    Raised when the output folder already holds tokens of another codec (its
    ``codec.json`` differs): tokens of two codecs are never mixed in one folder.
    The command line prints it as ``error: <message>`` and exits with status 1.
    """


def codec_fingerprint(codec: FocalCodec) -> Dict[str, object]:
    """What a tokens folder records of the codec that filled it.

    Arguments
    ---------
    codec : FocalCodec
        The codec.

    Returns
    -------
    fingerprint : dict
        JSON-serializable: token grid and ``bitstream.model_fingerprint``.
    """
    return {
        "sample_rate_input": codec.sample_rate_input,
        "token_rate": codec.token_rate,
        "codebook_size": codec.codebook_size,
        "model": model_fingerprint(codec).hex(),
    }


class _AudioFiles(Dataset):
    """(audio field, utterance id, path) triples read at the codec's rate."""

    def __init__(self, items: List[Tuple[str, str, str]], sample_rate: int) -> None:
        self.items = items
        self.sample_rate = sample_rate

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Tuple[str, str, Tensor]:
        key, utt_id, path = self.items[index]
        try:
            sig = load_audio(path, self.sample_rate)
        except AudioError as error:
            raise AudioError(f"Utterance {utt_id} ({key}): {error}") from None
        return key, utt_id, sig


def _collate(batch: List[Tuple[str, str, Tensor]]) -> Tuple[List[Tuple[str, str]], Tensor, Tensor]:
    names = [(key, utt_id) for key, utt_id, _ in batch]
    counts = torch.tensor([sig.shape[0] for _, _, sig in batch])
    sig = torch.zeros(len(batch), int(counts.max()))
    for row, (_, _, item) in enumerate(batch):
        sig[row, : item.shape[0]] = item
    return names, sig, counts.double() / counts.max()


def _check_codec_folder(output_folder: Path, fingerprint: Dict[str, object]) -> None:
    path = output_folder / CODEC_FILE
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored != fingerprint:
            raise ExtractionError(
                f"{output_folder} holds tokens of another codec ({path} differs): "
                "use a new output folder for this codec"
            )
        return
    make_folder(output_folder)
    atomic_write_text(path, json.dumps(fingerprint, indent=2))


def _check_audio_files(
    manifest: Path, items: List[Tuple[str, str, str]], replacements: Optional[Dict[str, str]]
) -> None:
    """Every listed audio file exists (checked before any work, with a hint)."""
    missing = [(utt_id, path) for _, utt_id, path in items if not Path(path).is_file()]
    if not missing:
        return
    utt_id, path = missing[0]
    message = f"{len(missing)} audio files of {manifest} do not exist, e.g. {path} ({utt_id})"
    if not Path(path).is_absolute() and not replacements:
        message += (
            f"; its paths are relative to {Path.cwd()}: pass --data_root with the folder "
            "they are relative to (and {data_root} in the manifest), or absolute paths"
        )
    raise ManifestError(message)


def _distributed() -> Tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def extract_tokens(
    codec: Union[FocalCodec, FocalCodecTokenizer],
    manifest: Union[str, Path],
    output_folder: Union[str, Path],
    audio_keys: Sequence[str] = ("wav",),
    batch_size: int = 8,
    num_workers: int = 0,
    replacements: Optional[Dict[str, str]] = None,
    device: Union[str, torch.device, None] = None,
    rank: Optional[int] = None,
    world_size: Optional[int] = None,
    progress: bool = True,
) -> Optional[Path]:
    """Extracts the tokens of every audio file of a manifest.

    Arguments
    ---------
    codec : FocalCodec or FocalCodecTokenizer
        The codec (used frozen, in eval mode).
    manifest : str or Path
        SpeechBrain ``.json`` or ``.csv`` manifest.
    output_folder : str or Path
        Where token files, ``codec.json`` and the token manifest go.
    audio_keys : sequence of str
        Manifest fields holding audio file paths.
    batch_size : int
        Files per forward pass (results do not depend on it).
    num_workers : int
        Audio-reading worker processes.
    replacements : dict, optional
        Manifest placeholders, e.g. ``{"data_root": "/data"}``.
    device : str or torch.device, optional
        Where the codec runs (default: its current device).
    rank : int, optional
        This shard (default: the ``torch.distributed`` rank, else 0).
    world_size : int, optional
        Number of shards (default: the ``torch.distributed`` world size,
        else 1).
    progress : bool
        Whether to show a progress bar.

    Returns
    -------
    token_manifest : Path or None
        ``<output_folder>/<manifest name>``, or None while other shards are
        still running.

    Example
    -------
    >>> from speechbrain_focalcodec.dataio import read_manifest, load_toks, write_manifest
    >>> tmp = getfixture("tmpdir")
    >>> wav = "samples/librispeech-dev-clean/84-121123-0000.flac"
    >>> write_manifest(tmp / "data.json", {"utt1": {"wav": wav}})
    >>> codec = FocalCodec.from_pretrained("tests/golden/tiny_50hz")
    >>> out = extract_tokens(codec, tmp / "data.json", tmp / "tokens", progress=False)
    >>> entry = read_manifest(out)["utt1"]
    >>> load_toks(entry["wav_toks_file"]).shape
    torch.Size([104])
    """
    if isinstance(codec, FocalCodecTokenizer):
        codec = codec.codec
    if not isinstance(codec, FocalCodec):
        raise TypeError(f"Expected a FocalCodec, got {type(codec).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    manifest, output_folder = Path(manifest), Path(output_folder)
    data = read_manifest(manifest, replacements)
    if not data:
        raise ManifestError(f"Manifest {manifest} is empty")
    for utt_id, entry in data.items():
        missing = [key for key in audio_keys if key not in entry]
        if missing:
            raise ManifestError(f"Utterance {utt_id} of {manifest} has no field {missing[0]!r}")
    default_rank, default_world = _distributed()
    rank = default_rank if rank is None else rank
    world_size = default_world if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"Shard {rank} does not exist among {world_size}")
    codec = codec.eval().requires_grad_(False)
    if device is not None:
        codec = codec.to(device)
    device = next(codec.parameters()).device
    _check_codec_folder(output_folder, codec_fingerprint(codec))

    # Every (field, utterance) pair, longest first (similar lengths share
    # batches); shards interleave, so that they get similar loads.
    items = [(key, utt_id, str(entry[key])) for utt_id, entry in data.items() for key in audio_keys]
    items.sort(key=lambda item: (-float(data[item[1]].get("duration", 0.0)), item[1], item[0]))
    shard = items[rank::world_size]
    todo = [item for item in shard if not toks_path(output_folder, item[0], item[1]).is_file()]
    _check_audio_files(manifest, todo, replacements)
    logger.info(
        "Shard %d/%d: %d files, %d already extracted",
        rank,
        world_size,
        len(shard),
        len(shard) - len(todo),
    )
    loader = DataLoader(
        _AudioFiles(todo, codec.sample_rate_input),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_collate,
    )
    bar = tqdm(
        total=len(shard),
        initial=len(shard) - len(todo),
        desc=f"tokens {rank + 1}/{world_size}" if world_size > 1 else "tokens",
        disable=not progress,
        unit="file",
    )
    with torch.no_grad(), bar:
        for names, sig, lens in loader:
            sig, lens = sig.to(device), lens.to(device)
            toks = codec.sig_to_toks(sig, lens)
            counts = lens_to_counts(codec.toks_lens(lens, sig.shape[1]), toks.shape[1])
            for (key, utt_id), row, count in zip(names, toks, counts.tolist()):
                save_toks(toks_path(output_folder, key, utt_id), row[:count], codec.codebook_size)
            bar.update(len(names))
    if world_size > 1 and dist.is_available() and dist.is_initialized():
        dist.barrier()
    remaining = sum(not toks_path(output_folder, key, utt_id).is_file() for key, utt_id, _ in items)
    if remaining:
        logger.info("Shard %d done; %d files left to other shards", rank, remaining)
        return None
    out = output_folder / manifest.name
    if rank == 0 or not (dist.is_available() and dist.is_initialized()):
        for utt_id, entry in data.items():
            for key in audio_keys:
                entry[toks_field(key)] = str(toks_path(output_folder, key, utt_id).resolve())
        write_manifest(out, data)
        logger.info("Token manifest: %s", out)
    if world_size > 1 and dist.is_available() and dist.is_initialized():
        dist.barrier()
    return out


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Extract FocalCodec tokens for a SpeechBrain manifest (resumable; "
        "run under torchrun to shard across processes).",
    )
    parser.add_argument("manifest", help="SpeechBrain .json or .csv manifest")
    add_common_options(parser, model="required", force=False)
    add_option(
        parser, "--output", "--output_folder", required=True, help="where tokens are written"
    )
    add_option(parser, "--audio_keys", nargs="+", default=["wav"], help="audio fields")
    add_option(parser, "--batch_size", type=positive_int, default=8, help="files per batch")
    add_option(
        parser, "--num_workers", type=non_negative_int, default=0, help="audio-reading processes"
    )
    add_option(parser, "--data_root", help="value of the {data_root} placeholder")
    return parser


def main(argv: Optional[Sequence[str]] = None, prog: str = "focalcodec-extract-tokens") -> int:
    """Command-line entry point; returns the exit status.

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).
    prog : str
        Program name in messages (``focalcodec extract-tokens`` from ``focalcodec``).

    Returns
    -------
    status : int
        0 on success, 1 on an error (reported in one line), 2 on a usage error.
    """
    parser = _parser(prog)
    status, args = usage_status(lambda: parse(parser, sys.argv[1:] if argv is None else argv))
    if args is None:
        return status
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_command(_run, args, parser.prog)


def _run(args: argparse.Namespace) -> int:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = args.device
    if device == "cuda" and world_size > 1:
        device = f"cuda:{local_rank}"
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    try:
        codec = FocalCodec.from_pretrained(args.model)
        out = extract_tokens(
            codec,
            args.manifest,
            args.output,
            audio_keys=args.audio_keys,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            replacements={"data_root": args.data_root} if args.data_root else None,
            device=device,
            progress=not args.quiet,
        )
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if out is not None:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
