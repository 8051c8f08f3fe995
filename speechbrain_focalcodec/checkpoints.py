"""Reading and writing codecs in the official FocalCodec checkpoint format.

This module reads and writes files only: it does not know the codec (building a
codec from its config is ``FocalCodec.from_config``, with ``codec_config``).

A checkpoint is a directory (or Hugging Face repository) holding

* ``config.json``: the names and constructor arguments of the five
  components (``encoder_name``/``encoder_config``, ... ``decoder_config``);
* ``model.safetensors``: the state dict.

The official non-causal checkpoints (focalcodec_50hz, _25hz, _12_5hz) were
written by focalcodec v0.0.1, whose state dict differs: separate q/k/v
projections, ``layers.<i>.0`` / ``layers.<i>.1`` instead of named sub-layers
in the compressor and decompressor, and two unused tensors. Both layouts load.
Loading is strict: any missing, unexpected or misshaped tensor is an error.

Authors
 * speechbrain-focalcodec developers 2026
"""

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec import hub
from speechbrain_focalcodec.files import OutputError, atomic_path, current_umask

__all__ = [
    "CONFIG_FILE",
    "HPARAMS_FILE",
    "OFFICIAL_CHECKPOINTS",
    "WEIGHTS_FILE",
    "CheckpointError",
    "load_state_dict",
    "is_hub_id",
    "read_config",
    "read_state_dict",
    "resolve_checkpoint",
    "write_checkpoint",
]

OFFICIAL_CHECKPOINTS = (
    "lucadellalib/focalcodec_50hz",
    "lucadellalib/focalcodec_25hz",
    "lucadellalib/focalcodec_12_5hz",
    "lucadellalib/focalcodec_50hz_2k_causal",
    "lucadellalib/focalcodec_50hz_4k_causal",
    "lucadellalib/focalcodec_50hz_65k_causal",
)

CONFIG_FILE = "config.json"
HPARAMS_FILE = "hyperparams.yaml"
WEIGHTS_FILE = "model.safetensors"
LEGACY_WEIGHTS_FILE = "model.pt"
# A config.json is a few kilobytes: anything much larger is not one.
MAX_CONFIG_BYTES = 1 << 20

# v0.0.1 tensors that the model does not use.
_UNUSED_V001_KEYS = re.compile(r"^(encoder\.encoder\.norm\.(weight|bias)|quantizer\.mask)$")
_HUB_ID = re.compile(r"^[\w\-.]+/[\w\-.]+$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not match the architecture."""


# ------------------------------------------------------------- state dict
def _is_v001_layout(state_dict: Mapping[str, Tensor]) -> bool:
    return any(re.search(r"\.(q|k|v)_proj\.", key) for key in state_dict)


def _from_v001_layout(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Renames a focalcodec v0.0.1 state dict to the current layout."""
    renamed: Dict[str, Tensor] = {}
    qkv: Dict[Tuple[str, str], Dict[str, Tensor]] = {}
    for key, value in state_dict.items():
        if _UNUSED_V001_KEYS.match(key):
            continue
        match = re.match(r"^(.*)\.(q|k|v)_proj\.(weight|bias)$", key)
        if match:
            prefix, proj, kind = match.groups()
            qkv.setdefault((prefix, kind), {})[proj] = value
            continue
        key = re.sub(r"^compressor\.layers\.(\d+)\.0\.", r"compressor.layers.\1.downscale.", key)
        key = re.sub(r"^compressor\.layers\.(\d+)\.1\.", r"compressor.layers.\1.focal_block.", key)
        key = re.sub(
            r"^decompressor\.layers\.(\d+)\.0\.", r"decompressor.layers.\1.focal_block.", key
        )
        key = re.sub(r"^decompressor\.layers\.(\d+)\.1\.", r"decompressor.layers.\1.upscale.", key)
        renamed[key] = value
    for (prefix, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise CheckpointError(
                f"Incomplete attention projections under '{prefix}': found {sorted(parts)}"
            )
        renamed[f"{prefix}.qkv_proj.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return renamed


def check_weights(state_dict: Mapping[str, Tensor]) -> None:
    """Refuses tensors that are not floating point or hold NaN or infinite values.

    Arguments
    ---------
    state_dict : dict
        Tensors by name.

    Raises
    ------
    CheckpointError
        Naming the first bad tensors.

    Example
    -------
    >>> try:
    ...     check_weights({"w": torch.tensor([1.0, float("nan")])})
    ... except CheckpointError as error:
    ...     print(error)
    Invalid weights: w holds NaN or infinite values
    """
    problems = []
    for key, value in state_dict.items():
        if not value.is_floating_point():
            problems.append(f"{key} has dtype {str(value.dtype).replace('torch.', '')}")
        elif value.device.type != "meta" and not bool(torch.isfinite(value).all()):
            problems.append(f"{key} holds NaN or infinite values")
    if problems:
        more = f"; ... ({len(problems)} in all)" if len(problems) > 5 else ""
        shown = "; ".join(problems[:5]) + more
        raise CheckpointError(f"Invalid weights: {shown}")


def load_state_dict(codec: nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """Loads a state dict (either official layout) strictly into ``codec``.

    Every tensor must be floating point and finite (``check_weights``).

    Arguments
    ---------
    codec : FocalCodec
        Destination.
    state_dict : dict
        Tensors by name.

    Raises
    ------
    CheckpointError
        Naming the missing, unexpected, misshaped and invalid tensors.
    """
    if _is_v001_layout(state_dict):
        state_dict = _from_v001_layout(state_dict)
    expected = codec.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshaped = sorted(
        f"{key}: checkpoint {list(state_dict[key].shape)} vs model {list(expected[key].shape)}"
        for key in set(expected) & set(state_dict)
        if state_dict[key].shape != expected[key].shape
    )
    if missing or unexpected or misshaped:
        lines = ["The checkpoint does not match the codec architecture:"]
        for title, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", misshaped),
        ):
            if keys:
                shown = ", ".join(keys[:10]) + (" ..." if len(keys) > 10 else "")
                lines.append(f"  {len(keys)} {title}: {shown}")
        raise CheckpointError("\n".join(lines))
    check_weights(state_dict)
    codec.load_state_dict(dict(state_dict), strict=True)


def read_state_dict(path: Union[str, Path]) -> Dict[str, Tensor]:
    """Reads a state dict from a safetensors file or a (weights-only) torch file.

    The format is detected from the content, not the extension, so SpeechBrain
    ``*.ckpt`` links to either kind work. Torch files are loaded with
    ``weights_only=True``: no arbitrary code is unpickled.

    Arguments
    ---------
    path : str or Path
        File to read.

    Returns
    -------
    state_dict : dict
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file not found: {path}")
    with open(path, "rb") as stream:
        head = stream.read(9)
    try:
        if len(head) == 9 and head[8:9] == b"{":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt or truncated file, foreign format
        raise CheckpointError(f"Cannot read checkpoint {path}: {error}") from None
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return dict(state)


# ------------------------------------------------------------ directories
def read_config(path: Union[str, Path]) -> Dict[str, Any]:
    """Reads a ``config.json`` (UTF-8 JSON object; its content is checked by
    ``codec_config.validate_config``).

    Arguments
    ---------
    path : str or Path
        The file.

    Returns
    -------
    config : dict

    Raises
    ------
    CheckpointError
        For a file that is unreadable, too large, not UTF-8, not JSON or not an object.

    Example
    -------
    >>> path = getfixture("tmp_path") / "config.json"
    >>> _ = path.write_bytes(b"\\xff\\xfe")
    >>> try:
    ...     read_config(path)
    ... except CheckpointError as error:
    ...     print(str(error).split(": ", 1)[1])
    not UTF-8 text (byte 0xff at position 0)
    """
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        reason = error.strerror or error
        raise CheckpointError(f"Cannot read codec config {path}: {reason}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise CheckpointError(
            f"Cannot read codec config {path}: larger than {MAX_CONFIG_BYTES} bytes"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CheckpointError(
            f"Cannot read codec config {path}: not UTF-8 text (byte 0x{data[error.start]:02x} "
            f"at position {error.start})"
        ) from None
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(f"Cannot read codec config {path}: invalid JSON ({error})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"Cannot read codec config {path}: it must hold a JSON object")
    return config


def is_hub_id(source: str) -> bool:
    """Whether ``source`` has the form of a Hugging Face repository id (``owner/name``).

    Arguments
    ---------
    source : str
        A checkpoint source.

    Returns
    -------
    hub_id : bool

    Example
    -------
    >>> is_hub_id("lucadellalib/focalcodec_50hz"), is_hub_id("/models/focalcodec")
    (True, False)
    """
    return bool(_HUB_ID.match(source))


def _resolve_local(source: Path) -> Optional[Tuple[Path, Path]]:
    """(config, weights) of a local directory or ``<name>.json`` path, if any."""
    if source.is_dir():
        config = source / CONFIG_FILE
        weights = [source / WEIGHTS_FILE, source / LEGACY_WEIGHTS_FILE]
    elif source.suffix == ".json" and source.is_file():
        config = source
        weights = [source.with_suffix(".safetensors"), source.with_suffix(".pt")]
    else:
        return None
    if not config.is_file():
        raise CheckpointError(f"No {config.name} in {config.parent}")
    for candidate in weights:
        if candidate.is_file():
            return config, candidate
    raise CheckpointError(f"No {' or '.join(w.name for w in weights)} next to {config}")


def _download(repo_id: str, **hub_kwargs: Any) -> Tuple[Path, Path]:
    """(config, weights) of a Hub repository, fetched or from the cache."""
    try:
        config = hub.download(repo_id, CONFIG_FILE, **hub_kwargs)
        try:
            weights = hub.download(repo_id, WEIGHTS_FILE, **hub_kwargs)
        except hub.HubError as error:
            if error.kind not in ("not_found", "offline", "unreachable"):
                raise
            try:  # v0.0.1 repositories may hold model.pt only
                weights = hub.download(repo_id, LEGACY_WEIGHTS_FILE, **hub_kwargs)
            except hub.HubError:
                raise error from None
    except hub.HubError as error:
        official = ", ".join(OFFICIAL_CHECKPOINTS)
        raise CheckpointError(
            f"Cannot load the codec: {error}. Official checkpoints: {official}"
        ) from None
    return config, weights


def resolve_checkpoint(source: Union[str, Path], **hub_kwargs: Any) -> Tuple[Path, Path]:
    """Local paths of the config and weights of a checkpoint.

    Arguments
    ---------
    source : str or Path
        Local directory, local ``<name>.json`` (weights in ``<name>.safetensors``)
        or Hugging Face repository id (downloaded through ``huggingface_hub``,
        which honours ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``).
    **hub_kwargs : dict
        Forwarded to ``huggingface_hub.hf_hub_download``.

    Returns
    -------
    config : pathlib.Path
    weights : pathlib.Path

    Raises
    ------
    CheckpointError
        In one line: not a checkpoint, not found on the Hub, server error, offline.
    """
    local = _resolve_local(Path(source))
    if local is not None:
        return local
    if is_hub_id(str(source)):
        return _download(str(source), **hub_kwargs)
    raise CheckpointError(
        f"'{source}' is neither a local checkpoint (directory with {CONFIG_FILE} "
        f"and {WEIGHTS_FILE}) nor a Hugging Face repository id"
    )


def _write_files(folder: Path, config: Mapping[str, Any], hparams: str, state: dict) -> None:
    from safetensors.torch import save_file

    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    (folder / HPARAMS_FILE).write_text(hparams, encoding="utf-8")
    save_file(state, str(folder / WEIGHTS_FILE))
    for name in (CONFIG_FILE, HPARAMS_FILE, WEIGHTS_FILE):
        os.chmod(folder / name, 0o644 & ~current_umask())


def write_checkpoint(
    directory: Union[str, Path],
    config: Mapping[str, Any],
    hparams: str,
    state_dict: Mapping[str, Tensor],
) -> None:
    """Writes ``config.json``, ``hyperparams.yaml`` and ``model.safetensors``, all or none.

    The three files are written in a temporary sibling folder, then renamed
    into place: a new directory appears whole; in an existing one, the files
    are replaced only once all three are written (other files are kept). The
    files get the usual permissions (0644 minus the umask).

    Arguments
    ---------
    directory : str or Path
        Output directory (created if needed).
    config : dict
        ``config.json`` content.
    hparams : str
        ``hyperparams.yaml`` text.
    state_dict : dict
        Tensors to save.

    Raises
    ------
    OutputError
        In one line, when the directory cannot be written (full disk...).
    """
    directory = Path(directory)
    state = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
    if not directory.exists():
        with atomic_path(directory) as temporary:
            temporary.unlink()
            temporary.mkdir()
            _write_files(temporary, config, hparams, state)
            os.chmod(temporary, 0o777 & ~current_umask())
        return
    if not directory.is_dir():
        raise OutputError(f"cannot write {directory}: it exists and is not a directory")
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    except OSError as error:
        raise OutputError(f"cannot write {directory}: {error.strerror or error}") from None
    try:
        _write_files(temporary, config, hparams, state)
        for name in (WEIGHTS_FILE, CONFIG_FILE, HPARAMS_FILE):
            os.replace(temporary / name, directory / name)
    except OSError as error:
        reason = "No space left on device" if error.errno == 28 else error.strerror or error
        raise OutputError(f"cannot write {directory}: {reason}") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
