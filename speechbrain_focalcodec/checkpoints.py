"""Reading and writing codecs in the official FocalCodec checkpoint format.

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
import re
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Type, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.lobes.bsq import BinarySphericalQuantizer
from speechbrain_focalcodec.lobes.compressor import FocalCompressor
from speechbrain_focalcodec.lobes.decompressor import FocalDecompressor
from speechbrain_focalcodec.lobes.vocos import Vocos
from speechbrain_focalcodec.lobes.wavenext import WaveNeXt
from speechbrain_focalcodec.lobes.wavlm import WavLM

__all__ = [
    "OFFICIAL_CHECKPOINTS",
    "CheckpointError",
    "codec_config",
    "codec_from_config",
    "hparams_yaml",
    "load_pretrained",
    "load_state_dict",
    "read_state_dict",
    "save_pretrained",
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

# Component slots of config.json and the class names the official package writes.
_SLOTS: Dict[str, Dict[str, Type[nn.Module]]] = {
    "encoder": {"WavLM": WavLM},
    "compressor": {"FocalEncoder": FocalCompressor},
    "quantizer": {"BinarySphericalQuantizer": BinarySphericalQuantizer},
    "decompressor": {"FocalDecoder": FocalDecompressor},
    "decoder": {"Vocos": Vocos, "WaveNeXt": WaveNeXt},
}
# Arguments of the official constructors that only tune its implementation.
_IGNORED_ARGS = {"encoder": ("max_cached_steps", "use_flex_attention")}
# Arguments of our constructors that official configs never hold.
_TRAINING_ONLY_ARGS = {"quantizer": ("entropy_loss_weight", "diversity_gamma")}
# v0.0.1 tensors that the model does not use.
_UNUSED_V001_KEYS = re.compile(r"^(encoder\.encoder\.norm\.(weight|bias)|quantizer\.mask)$")
_HUB_ID = re.compile(r"^[\w\-.]+/[\w\-.]+$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not match the architecture."""


# ------------------------------------------------------------------ config
def codec_from_config(config: Mapping[str, Any]) -> FocalCodec:
    """Builds a codec (random weights) from an official ``config.json`` dict.

    Both the v0.0.1 and v0.0.2 spellings are accepted; unknown component names
    or arguments raise a ``CheckpointError``.

    Arguments
    ---------
    config : dict
        Parsed ``config.json``.

    Returns
    -------
    codec : FocalCodec

    Example
    -------
    >>> codec = codec_from_config({
    ...     "encoder_config": {"hidden_dims": [8] * 7, "num_layers": 1, "dim": 16,
    ...                        "ffn_dim": 32, "num_heads": 2, "conv_pos": 4, "conv_pos_groups": 2},
    ...     "compressor_config": {"input_dim": 16, "output_dim": 4, "hidden_dims": [8],
    ...                           "downscale_factors": [1]},
    ...     "quantizer_config": {"codebook_size": 16},
    ...     "decompressor_config": {"input_dim": 4, "output_dim": 16, "hidden_dims": [8],
    ...                             "upscale_factors": [1]},
    ...     "decoder_name": "Vocos",
    ...     "decoder_config": {"input_channels": 16, "num_layers": 1, "dim": 8, "ffn_dim": 8,
    ...                        "padding": 3},
    ... })
    >>> codec.codebook_size, codec.sample_rate_output
    (16, 16000)
    """
    defaults = {
        "encoder": "WavLM",
        "compressor": "FocalEncoder",
        "quantizer": "BinarySphericalQuantizer",
        "decompressor": "FocalDecoder",
        "decoder": "WaveNeXt",
    }
    known = {f"{slot}_{suffix}" for slot in _SLOTS for suffix in ("name", "config")}
    extra = sorted(set(config) - known)
    if extra:
        raise CheckpointError(f"Unknown entries in the codec config: {extra}")
    parts = {}
    for slot, classes in _SLOTS.items():
        name = config.get(f"{slot}_name") or defaults[slot]
        if name not in classes:
            raise CheckpointError(f"Unsupported {slot} '{name}'; supported: {sorted(classes)}")
        kwargs = dict(config.get(f"{slot}_config") or {})
        if name == "Vocos":
            # v0.0.1 spelling: `input_channels` was renamed, `padding` is implied.
            if "input_channels" in kwargs:
                kwargs.setdefault("input_dim", kwargs.pop("input_channels"))
            kwargs.pop("padding", None)
        for arg in _IGNORED_ARGS.get(slot, ()):
            kwargs.pop(arg, None)
        try:
            parts[slot] = classes[name](**kwargs)
        except TypeError as error:
            raise CheckpointError(f"Invalid {slot}_config for {name}: {error}") from None
    try:
        return FocalCodec(**parts)
    except ValueError as error:
        raise CheckpointError(str(error)) from None


def codec_config(codec: FocalCodec) -> Dict[str, Any]:
    """The official ``config.json`` dict of a codec (v0.0.2 spelling).

    Arguments
    ---------
    codec : FocalCodec

    Returns
    -------
    config : dict
    """
    config: Dict[str, Any] = {}
    for slot, classes in _SLOTS.items():
        module = getattr(codec, slot)
        (name,) = [name for name, cls in classes.items() if type(module) is cls]
        kwargs = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in module.config.items()
            if key not in _TRAINING_ONLY_ARGS.get(slot, ())
        }
        config[f"{slot}_name"] = name
        config[f"{slot}_config"] = kwargs
    return config


def hparams_yaml(
    config: Mapping[str, Any], weights_source: Optional[str] = None, title: str = "FocalCodec"
) -> str:
    """SpeechBrain ``hyperparams.yaml`` text that builds and loads a codec.

    The yaml builds the five lobes with HyperPyYAML and loads the weights with
    ``FocalCodecPretrainer`` for ``FocalCodecInterface.from_hparams``.

    Arguments
    ---------
    config : dict
        Official codec config (``codec_config(codec)`` or a ``config.json``).
    weights_source : str, optional
        Hugging Face repository or local directory of ``model.safetensors``;
        None reads the weights next to the yaml (the ``from_hparams`` source).
    title : str
        First comment line.

    Returns
    -------
    text : str
    """
    codec = codec_from_config(config) if "encoder_config" in config else None
    if codec is None:
        raise CheckpointError("hparams_yaml needs a full codec config")
    config = codec_config(codec)
    classes = {
        "encoder": "speechbrain_focalcodec.lobes.WavLM",
        "compressor": "speechbrain_focalcodec.lobes.FocalCompressor",
        "quantizer": "speechbrain_focalcodec.lobes.BinarySphericalQuantizer",
        "decompressor": "speechbrain_focalcodec.lobes.FocalDecompressor",
        "decoder": f"speechbrain_focalcodec.lobes.{config['decoder_name']}",
    }
    source = "null" if weights_source is None else weights_source
    lines = [
        f"# {title}",
        f"# {codec.sample_rate_input} Hz in, {codec.sample_rate_output} Hz out, "
        f"{codec.token_rate:g} tokens/s, {codec.codebook_size} codes, "
        f"{codec.bitrate / 1000:.2f} kbps, {'causal' if codec.causal else 'non-causal'}.",
        "# Load with speechbrain_focalcodec.inference.FocalCodecInterface.from_hparams.",
        "",
        "# Hugging Face repository id or local directory holding model.safetensors;",
        "# null = next to this file (the `source` given to from_hparams).",
        f"weights_source: {source}",
        f"sample_rate: {codec.sample_rate_input}",
        f"sample_rate_output: {codec.sample_rate_output}",
        "",
    ]
    for slot, class_path in classes.items():
        lines.append(f"{slot}: !new:{class_path}")
        for key, value in config[f"{slot}_config"].items():
            lines.append(f"    {key}: {json.dumps(value)}")
        lines.append("")
    lines += [
        "codec: !new:speechbrain_focalcodec.FocalCodec",
        *[f"    {slot}: !ref <{slot}>" for slot in classes],
        "",
        "modules:",
        "    codec: !ref <codec>",
        "",
        "pretrainer: !new:speechbrain_focalcodec.inference.FocalCodecPretrainer",
        "    codec: !ref <codec>",
        "    source: !ref <weights_source>",
        "",
    ]
    return "\n".join(lines)


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


def load_state_dict(codec: FocalCodec, state_dict: Mapping[str, Tensor]) -> None:
    """Loads a state dict (either official layout) strictly into ``codec``.

    Arguments
    ---------
    codec : FocalCodec
        Destination.
    state_dict : dict
        Tensors by name.

    Raises
    ------
    CheckpointError
        Naming the missing, unexpected and misshaped tensors.
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
def _read_config(path: Path) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as stream:
            config = json.load(stream)
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"Cannot read codec config {path}: {error}") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return config


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
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        config = hf_hub_download(repo_id, CONFIG_FILE, **hub_kwargs)
        try:
            weights = hf_hub_download(repo_id, WEIGHTS_FILE, **hub_kwargs)
        except EntryNotFoundError:
            weights = hf_hub_download(repo_id, LEGACY_WEIGHTS_FILE, **hub_kwargs)
    except Exception as error:
        raise CheckpointError(
            f"Cannot fetch '{repo_id}' from the Hugging Face Hub ({type(error).__name__}: "
            f"{error}). Official checkpoints: {', '.join(OFFICIAL_CHECKPOINTS)}. Offline, "
            "pass a local directory holding config.json and model.safetensors."
        ) from None
    return Path(config), Path(weights)


def load_pretrained(source: Union[str, Path], **hub_kwargs: Any) -> FocalCodec:
    """Loads a codec from a local checkpoint or a Hugging Face repository.

    Arguments
    ---------
    source : str or Path
        Local directory, local ``<name>.json`` (weights in
        ``<name>.safetensors``) or Hugging Face repository id.
    **hub_kwargs : dict
        Forwarded to ``huggingface_hub.hf_hub_download``.

    Returns
    -------
    codec : FocalCodec
        In eval mode, on the CPU.
    """
    local = _resolve_local(Path(source))
    if local is not None:
        config_path, weights_path = local
    elif _HUB_ID.match(str(source)):
        config_path, weights_path = _download(str(source), **hub_kwargs)
    else:
        raise CheckpointError(
            f"'{source}' is neither a local checkpoint (directory with {CONFIG_FILE} "
            f"and {WEIGHTS_FILE}) nor a Hugging Face repository id"
        )
    codec = codec_from_config(_read_config(config_path))
    load_state_dict(codec, read_state_dict(weights_path))
    return codec.eval()


def save_pretrained(codec: FocalCodec, directory: Union[str, Path]) -> None:
    """Writes ``config.json``, ``model.safetensors`` and ``hyperparams.yaml``.

    The directory then loads with ``FocalCodec.from_pretrained`` (and the
    official package) and with ``FocalCodecInterface.from_hparams``.

    Arguments
    ---------
    codec : FocalCodec
        Codec to save.
    directory : str or Path
        Output directory (created if needed).
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = codec_config(codec)
    with open(directory / CONFIG_FILE, "w", encoding="utf-8") as stream:
        json.dump(config, stream, indent=2)
    with open(directory / HPARAMS_FILE, "w", encoding="utf-8") as stream:
        stream.write(hparams_yaml(config))
    state_dict = {
        key: value.detach().cpu().contiguous() for key, value in codec.state_dict().items()
    }
    save_file(state_dict, str(directory / WEIGHTS_FILE))
