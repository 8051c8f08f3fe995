"""Tiny codecs of the official architectures, for examples, tests and demos.

They have the layer layout of the released models at a few thousand parameters, so a
docstring example or a test builds one in milliseconds. Their weights are random: their
output is noise.

Authors
 * speechbrain-focalcodec developers 2026
"""

import copy
from typing import Any, Dict

import torch

from speechbrain_focalcodec.codec import FocalCodec

__all__ = ["TINY_VARIANTS", "tiny_config", "tiny_codec"]

_ENCODER = {
    "hidden_dims": [32] * 7,
    "kernel_sizes": [10, 3, 3, 3, 3, 2, 2],
    "strides": [5, 2, 2, 2, 2, 2, 2],
    "num_layers": 2,
    "dim": 64,
    "ffn_dim": 128,
    "num_heads": 4,
    "num_buckets": 320,
    "max_distance": 800,
    "max_cached_steps": 2048,
    "dropout": 0.0,
    "conv_pos": 16,
    "conv_pos_groups": 4,
    "causal": False,
    "window_size": 512,
    "lookahead_size": 3,
    "use_flex_attention": False,
}
_FOCAL = {
    "focal_window": 7,
    "focal_level": 2,
    "focal_factor": 2,
    "dropout": 0.0,
    "use_post_norm": False,
    "use_layerscale": False,
    "layerscale_init": 0.0001,
    "tanhscale_init": 0.5,
    "normalize_modulator": False,
    "causal": False,
    "window_size": 512,
}
_TINY_50HZ: Dict[str, Any] = {
    "encoder_name": "WavLM",
    "encoder_config": _ENCODER,
    "compressor_name": "FocalEncoder",
    "compressor_config": {
        "input_dim": 64,
        "output_dim": 13,
        "hidden_dims": [48, 32, 16],
        "downscale_factors": [1, 1, 1],
        **_FOCAL,
    },
    "quantizer_name": "BinarySphericalQuantizer",
    "quantizer_config": {"codebook_size": 8192},
    "decompressor_name": "FocalDecoder",
    "decompressor_config": {
        "input_dim": 13,
        "output_dim": 64,
        "hidden_dims": [16, 32, 48],
        "upscale_factors": [1, 1, 1],
        **_FOCAL,
        "last_window_size": 512,
        "lookahead_size": 3,
    },
    "decoder_name": "Vocos",
    "decoder_config": {
        "input_dim": 64,
        "num_layers": 2,
        "dim": 32,
        "ffn_dim": 96,
        "kernel_size": 7,
        "layerscale_init": None,
        "n_fft": 1024,
        "hop_length": 320,
        "causal": False,
    },
}
_CAUSAL_FOCAL = {"focal_window": 14, "focal_factor": 4, "causal": True, "window_size": 16}
_TINY_CAUSAL: Dict[str, Any] = {
    **_TINY_50HZ,
    "encoder_config": {**_ENCODER, "causal": True, "window_size": 32},
    "compressor_config": {
        **_TINY_50HZ["compressor_config"],
        **_CAUSAL_FOCAL,
        "output_dim": 12,
        "hidden_dims": [48, 48, 48],
    },
    "quantizer_config": {"codebook_size": 4096},
    "decompressor_config": {
        **_TINY_50HZ["decompressor_config"],
        **_CAUSAL_FOCAL,
        "input_dim": 12,
        "hidden_dims": [48, 48, 48],
        "last_window_size": 12,
    },
    "decoder_name": "WaveNeXt",
    "decoder_config": {
        **{k: v for k, v in _TINY_50HZ["decoder_config"].items() if k != "n_fft"},
        "hop_length": 480,
        "causal": True,
    },
}
_FACTORS = {"50hz": [1, 1, 1], "25hz": [2, 1, 1], "12_5hz": [2, 2, 1]}

TINY_VARIANTS = ("50hz", "25hz", "12_5hz", "causal")


def tiny_config(variant: str = "50hz") -> Dict[str, Any]:
    """The ``config.json`` content of a tiny codec of one official architecture.

    ``"50hz"`` and ``"causal"`` are the tiny models of the golden vectors made with the
    official implementation; ``"25hz"`` and ``"12_5hz"`` add the official down/up-scaling
    factors to the 50 Hz one.

    Arguments
    ---------
    variant : str
        One of ``TINY_VARIANTS``.

    Returns
    -------
    config : dict
        A fresh copy: changing it changes nothing here.

    Example
    -------
    >>> tiny_config("causal")["decoder_name"]
    'WaveNeXt'
    """
    if variant not in TINY_VARIANTS:
        raise ValueError(f"unknown tiny variant {variant!r}: expected one of {TINY_VARIANTS}")
    if variant == "causal":
        return copy.deepcopy(_TINY_CAUSAL)
    config = copy.deepcopy(_TINY_50HZ)
    config["compressor_config"]["downscale_factors"] = list(_FACTORS[variant])
    config["decompressor_config"]["upscale_factors"] = _FACTORS[variant][::-1]
    return config


def tiny_codec(variant: str = "50hz", seed: int = 0) -> FocalCodec:
    """A tiny codec with random, non-trivial weights, in eval mode.

    Arguments
    ---------
    variant : str
        One of ``TINY_VARIANTS``.
    seed : int
        Seed of the weights: the same seed gives the same codec.

    Returns
    -------
    codec : FocalCodec

    Example
    -------
    >>> codec = tiny_codec("25hz")
    >>> codec.sig_to_toks(torch.randn(1, 16000)).shape
    torch.Size([1, 25])
    """
    from speechbrain_focalcodec.codec import FocalCodec

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        codec = FocalCodec.from_config(tiny_config(variant))
        with torch.no_grad():
            for param in codec.parameters():
                param.add_(0.05 * torch.randn_like(param))
    return codec.eval()
