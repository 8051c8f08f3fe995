"""The codec's ``config.json``: validation, the components it builds, and back.

An official checkpoint's ``config.json`` names the five components of the
codec (``encoder_name``, ``compressor_name``, ``quantizer_name``,
``decompressor_name``, ``decoder_name``) and gives their constructor
arguments (``<slot>_config``). A config comes from a file that may be
malformed or hostile, so it is checked completely before anything is built:
types, ranges, list lengths that must agree, and an upper bound on every size
(``LIMITS``) and on the number of parameters (``MAX_PARAMETERS``), so that no
config can make the package allocate absurd amounts of memory. Every problem
is reported, in one line, as a ``CheckpointError`` naming the field.

This module knows the components (``lobes``) but not ``FocalCodec``:
``FocalCodec.from_config`` assembles what ``build_components`` returns.

Authors
 * speechbrain-focalcodec developers 2026
"""

import json
import math
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

import torch
from torch import nn

from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.lobes.bsq import BinarySphericalQuantizer
from speechbrain_focalcodec.lobes.compressor import FocalCompressor
from speechbrain_focalcodec.lobes.decompressor import FocalDecompressor
from speechbrain_focalcodec.lobes.vocos import Vocos
from speechbrain_focalcodec.lobes.wavenext import WaveNeXt
from speechbrain_focalcodec.lobes.wavlm import WavLM

__all__ = [
    "LIMITS",
    "MAX_PARAMETERS",
    "SLOTS",
    "build_components",
    "codec_config",
    "hparams_yaml",
    "validate_config",
]

# Component slots of config.json and the class names the official package writes.
SLOTS: Dict[str, Dict[str, Type[nn.Module]]] = {
    "encoder": {"WavLM": WavLM},
    "compressor": {"FocalEncoder": FocalCompressor},
    "quantizer": {"BinarySphericalQuantizer": BinarySphericalQuantizer},
    "decompressor": {"FocalDecoder": FocalDecompressor},
    "decoder": {"Vocos": Vocos, "WaveNeXt": WaveNeXt},
}
_DEFAULT_NAMES = {
    "encoder": "WavLM",
    "compressor": "FocalEncoder",
    "quantizer": "BinarySphericalQuantizer",
    "decompressor": "FocalDecoder",
    "decoder": "WaveNeXt",
}
# Arguments of the official constructors that only tune its implementation.
_IGNORED_ARGS = {"WavLM": ("max_cached_steps", "use_flex_attention"), "Vocos": ("padding",)}
# v0.0.1 spellings of arguments.
_RENAMED_ARGS = {"Vocos": {"input_channels": "input_dim"}}
# Arguments of our constructors that official configs never hold.
_TRAINING_ONLY_ARGS = {"quantizer": ("entropy_loss_weight", "diversity_gamma")}

# Upper bounds of the sizes a config may ask for (the official checkpoints use at most
# dim 4096, 8 layers, kernel 128, codebook 65536 and 249 M parameters).
LIMITS = {
    "dim": 16384,
    "layers": 256,
    "list": 64,
    "kernel": 4096,
    "factor": 64,
    "heads": 1024,
    "window": 1 << 20,
    "codebook_size": 1 << 20,
    "n_fft": 1 << 16,
}
MAX_PARAMETERS = 1 << 30

# Field kinds: ("int", low, high), ("ints", low, high) for lists, ("float", low, high),
# ("float?", low, high) for a float or null, ("bool",).
_DIM = ("int", 1, LIMITS["dim"])
_DIMS = ("ints", 1, LIMITS["dim"])
_KERNEL = ("int", 1, LIMITS["kernel"])
_BOOL = ("bool",)
_PROBABILITY = ("float", 0.0, 1.0)
_SCALE = ("float", -1e6, 1e6)
_WINDOW = ("int", 1, LIMITS["window"])
_LOOKAHEAD = ("int", 0, LIMITS["window"])
_FOCAL = {
    "input_dim": _DIM,
    "output_dim": _DIM,
    "hidden_dims": _DIMS,
    "focal_window": _KERNEL,
    "focal_level": ("int", 1, 16),
    "focal_factor": ("int", 0, LIMITS["factor"]),
    "dropout": _PROBABILITY,
    "use_post_norm": _BOOL,
    "use_layerscale": _BOOL,
    "layerscale_init": _SCALE,
    "tanhscale_init": _SCALE,
    "normalize_modulator": _BOOL,
    "causal": _BOOL,
    "window_size": _WINDOW,
}
_DECODER = {
    "input_dim": _DIM,
    "num_layers": ("int", 1, LIMITS["layers"]),
    "dim": _DIM,
    "ffn_dim": _DIM,
    "kernel_size": _KERNEL,
    "layerscale_init": ("float?", -1e6, 1e6),
    "hop_length": ("int", 1, LIMITS["n_fft"]),
    "causal": _BOOL,
}
_SCHEMA: Dict[str, Dict[str, Tuple]] = {
    "WavLM": {
        "hidden_dims": _DIMS,
        "kernel_sizes": ("ints", 1, LIMITS["kernel"]),
        "strides": ("ints", 1, LIMITS["kernel"]),
        "num_layers": ("int", 1, LIMITS["layers"]),
        "dim": _DIM,
        "ffn_dim": _DIM,
        "num_heads": ("int", 1, LIMITS["heads"]),
        "num_buckets": ("int", 1, LIMITS["window"]),
        "max_distance": ("int", 1, LIMITS["window"]),
        "dropout": _PROBABILITY,
        "conv_pos": _KERNEL,
        "conv_pos_groups": _DIM,
        "causal": _BOOL,
        "window_size": _WINDOW,
        "lookahead_size": _LOOKAHEAD,
    },
    "FocalEncoder": {**_FOCAL, "downscale_factors": ("ints", 1, LIMITS["factor"])},
    "FocalDecoder": {
        **_FOCAL,
        "upscale_factors": ("ints", 1, LIMITS["factor"]),
        "last_window_size": _WINDOW,
        "lookahead_size": _LOOKAHEAD,
    },
    "BinarySphericalQuantizer": {
        "codebook_size": ("int", 2, LIMITS["codebook_size"]),
        "entropy_loss_weight": ("float", 0.0, 1e6),
        "diversity_gamma": ("float", 0.0, 1e6),
    },
    "Vocos": {**_DECODER, "n_fft": ("int", 2, LIMITS["n_fft"])},
    "WaveNeXt": _DECODER,
}
# Lists that must have one entry per layer.
_SAME_LENGTH = {
    "WavLM": ("hidden_dims", "kernel_sizes", "strides"),
    "FocalEncoder": ("hidden_dims", "downscale_factors"),
    "FocalDecoder": ("hidden_dims", "upscale_factors"),
}
# (dividend, divisor): dimensions that must be multiples of another argument.
_DIVISIBLE = {"WavLM": (("dim", "num_heads"), ("dim", "conv_pos_groups"))}


def _check_value(field: str, value: Any, kind: Tuple) -> Optional[str]:
    """The problem with one argument, or None."""
    if kind[0] == "bool":
        return None if isinstance(value, bool) else f"{field} must be true or false, got {value!r}"
    if kind[0] == "ints":
        if not isinstance(value, list) or not 1 <= len(value) <= LIMITS["list"]:
            return f"{field} must be a list of 1 to {LIMITS['list']} integers, got {value!r:.80}"
        for index, item in enumerate(value):
            problem = _check_value(f"{field}[{index}]", item, ("int", *kind[1:]))
            if problem:
                return problem
        return None
    low, high = kind[1], kind[2]
    if kind[0] == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"{field} must be an integer in [{low}, {high}], got {value!r:.80}"
    if value is None and kind[0] == "float?":
        return None
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )
    expected = f"a finite number in [{low:g}, {high:g}]"
    return None if ok else f"{field} must be {expected}, got {value!r:.80}"


def _check_arguments(slot: str, name: str, kwargs: Dict[str, Any]) -> List[str]:
    """Problems with the arguments of one component (after renames and removals)."""
    schema = _SCHEMA[name]
    problems = []
    for key, value in kwargs.items():
        field = f"{slot}_config.{key}"
        if key not in schema:
            problems.append(f"{field} is not an argument of {name} (known: {', '.join(schema)})")
            continue
        problem = _check_value(field, value, schema[key])
        if problem:
            problems.append(problem)
    if problems:
        return problems
    lists = [key for key in _SAME_LENGTH.get(name, ()) if key in kwargs]
    lengths = {key: len(kwargs[key]) for key in lists}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{slot}_config.{key} has {n}" for key, n in lengths.items())
        problems.append(f"one entry per layer is needed: {shown}")
    for dividend, divisor in _DIVISIBLE.get(name, ()):
        if dividend in kwargs and divisor in kwargs and kwargs[dividend] % kwargs[divisor]:
            problems.append(
                f"{slot}_config.{dividend} = {kwargs[dividend]} must be a multiple of "
                f"{slot}_config.{divisor} = {kwargs[divisor]}"
            )
    size = kwargs.get("codebook_size")
    if isinstance(size, int) and size & (size - 1):
        problems.append(f"{slot}_config.codebook_size must be a power of two, got {size}")
    if name == "Vocos" and kwargs.get("hop_length", 320) > kwargs.get("n_fft", 1024):
        problems.append(f"{slot}_config.hop_length must not exceed {slot}_config.n_fft")
    return problems


def validate_config(config: Any) -> Dict[str, Tuple[Type[nn.Module], Dict[str, Any]]]:
    """Checks a ``config.json`` dict completely and returns what it builds.

    Both the v0.0.1 and v0.0.2 spellings are accepted. Missing arguments take
    the constructors' defaults.

    Arguments
    ---------
    config : dict
        Parsed ``config.json``.

    Returns
    -------
    components : dict
        Slot -> (component class, constructor arguments).

    Raises
    ------
    CheckpointError
        Naming every invalid field, in one line.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_config
    >>> sorted(validate_config(tiny_config("50hz")))
    ['compressor', 'decoder', 'decompressor', 'encoder', 'quantizer']
    >>> try:
    ...     validate_config({"quantizer_config": {"codebook_size": 2**40}})
    ... except CheckpointError as error:
    ...     print(str(error).split(", got")[0])
    Invalid codec config: quantizer_config.codebook_size must be an integer in [2, 1048576]
    """
    if not isinstance(config, Mapping):
        raise CheckpointError(f"Invalid codec config: a JSON object is needed, got {config!r:.80}")
    known = {f"{slot}_{suffix}" for slot in SLOTS for suffix in ("name", "config")}
    problems = [
        f"unknown entry {key!r:.80} (known: {', '.join(sorted(known))})"
        for key in config
        if key not in known
    ]
    components = {}
    for slot, classes in SLOTS.items():
        name = config.get(f"{slot}_name")
        if name is None:
            name = _DEFAULT_NAMES[slot]
        if not isinstance(name, str) or name not in classes:
            problems.append(
                f"{slot}_name {name!r:.80} is not supported (supported: {', '.join(classes)})"
            )
            continue
        kwargs = config.get(f"{slot}_config")
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, Mapping):
            problems.append(f"{slot}_config must be a JSON object, got {kwargs!r:.80}")
            continue
        kwargs = dict(kwargs)
        for old, new in _RENAMED_ARGS.get(name, {}).items():
            if old in kwargs:
                value = kwargs.pop(old)
                kwargs.setdefault(new, value)
        for arg in _IGNORED_ARGS.get(name, ()):
            kwargs.pop(arg, None)
        problems += _check_arguments(slot, name, kwargs)
        components[slot] = (classes[name], kwargs)
    if problems:
        raise CheckpointError("Invalid codec config: " + "; ".join(problems))
    return components


def build_components(config: Any) -> Dict[str, nn.Module]:
    """Builds the five components (random weights) of a validated config.

    The components are first built on the ``meta`` device (no memory) to count
    their parameters: more than ``MAX_PARAMETERS`` is refused.

    Arguments
    ---------
    config : dict
        Parsed ``config.json``.

    Returns
    -------
    components : dict
        Slot -> module, the keyword arguments of ``FocalCodec``.

    Raises
    ------
    CheckpointError
        For an invalid config.
    """
    components = validate_config(config)

    def build() -> Dict[str, nn.Module]:
        parts = {}
        for slot, (cls, kwargs) in components.items():
            try:
                parts[slot] = cls(**kwargs)
            except (TypeError, ValueError) as error:
                raise CheckpointError(
                    f"Invalid codec config: {slot}_config for {cls.__name__}: {error}"
                ) from None
        return parts

    with torch.device("meta"):
        count = sum(p.numel() for part in build().values() for p in part.state_dict().values())
    if count > MAX_PARAMETERS:
        raise CheckpointError(
            f"Invalid codec config: it describes {count:,} parameters, more than the "
            f"{MAX_PARAMETERS:,} this package accepts"
        )
    return build()


def codec_config(codec: nn.Module) -> Dict[str, Any]:
    """The official ``config.json`` dict (v0.0.2 spelling) of a codec's components.

    Arguments
    ---------
    codec : FocalCodec
        Any module with the five component attributes.

    Returns
    -------
    config : dict

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec_config(tiny_codec("causal"))["decoder_name"]
    'WaveNeXt'
    """
    config: Dict[str, Any] = {}
    for slot, classes in SLOTS.items():
        module = getattr(codec, slot)
        (name,) = [name for name, cls in classes.items() if type(module) is cls]
        config[f"{slot}_name"] = name
        config[f"{slot}_config"] = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in module.config.items()
            if key not in _TRAINING_ONLY_ARGS.get(slot, ())
        }
    return config


def _yaml_value(value: Any) -> str:
    """A YAML scalar or flow list, with SpeechBrain's ``True``/``False`` spelling."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(item) for item in value) + "]"
    return json.dumps(value)


def hparams_yaml(
    codec: nn.Module, weights_source: Optional[str] = None, title: str = "FocalCodec"
) -> str:
    """SpeechBrain ``hyperparams.yaml`` text that builds and loads a codec.

    The yaml builds the five lobes with HyperPyYAML and loads the weights with
    ``FocalCodecPretrainer`` for ``FocalCodecInterface.from_hparams``.

    Arguments
    ---------
    codec : FocalCodec
        The codec to describe.
    weights_source : str, optional
        Hugging Face repository or local directory of ``model.safetensors``;
        None reads the weights next to the yaml (the ``from_hparams`` source).
    title : str
        First comment line.

    Returns
    -------
    text : str

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> hparams_yaml(tiny_codec("50hz")).splitlines()[1]
    '# 16000 Hz in, 16000 Hz out, 50 tokens/s, 8192 codes, 0.65 kbps, non-causal.'
    """
    config = codec_config(codec)
    source = "null" if weights_source is None else json.dumps(str(weights_source))
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
    for slot in SLOTS:
        class_name = type(getattr(codec, slot)).__name__
        lines.append(f"{slot}: !new:speechbrain_focalcodec.lobes.{class_name}")
        for key, value in config[f"{slot}_config"].items():
            lines.append(f"    {key}: {_yaml_value(value)}")
        lines.append("")
    lines += [
        "codec: !new:speechbrain_focalcodec.FocalCodec",
        *[f"    {slot}: !ref <{slot}>" for slot in SLOTS],
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
