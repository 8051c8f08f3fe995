"""Fixtures shared by the tests: bundled speech, golden vectors, tiny codecs."""

import copy
import json
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from safetensors.torch import load_file

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.checkpoints import codec_from_config

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
SAMPLES = ROOT / "samples"
LIBRISPEECH = sorted((SAMPLES / "librispeech-dev-clean").glob("*.flac"))


def golden_config(name: str) -> Dict:
    """config.json of a golden tiny model."""
    return json.loads((GOLDEN / name / "config.json").read_text())


def tiny_config(variant: str) -> Dict:
    """Config of a tiny codec of one of the official architectures.

    ``50hz`` and ``causal`` are the golden tiny models; ``25hz`` and ``12_5hz``
    add the official down/up-scaling factors to the 50 Hz one.
    """
    if variant == "causal":
        return golden_config("tiny_causal")
    config = copy.deepcopy(golden_config("tiny_50hz"))
    factors = {"50hz": [1, 1, 1], "25hz": [2, 1, 1], "12_5hz": [2, 2, 1]}[variant]
    config["compressor_config"]["downscale_factors"] = factors
    config["decompressor_config"]["upscale_factors"] = factors[::-1]
    return config


def random_codec(variant: str, seed: int = 0) -> FocalCodec:
    """A tiny codec with random (non-trivial) weights, in eval mode."""
    torch.manual_seed(seed)
    codec = codec_from_config(tiny_config(variant))
    with torch.no_grad():
        for param in codec.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return codec.eval()


@pytest.fixture(scope="session")
def speech() -> List[torch.Tensor]:
    """The bundled LibriSpeech utterances (16 kHz, mono)."""
    return [load_audio(path, 16000) for path in LIBRISPEECH]


@pytest.fixture(scope="session")
def golden():
    """Loader of golden vectors: ``golden(name) -> (inputs, expected, meta)``."""

    def load(name: str):
        directory = GOLDEN / name
        meta = json.loads((directory / "meta.json").read_text())
        return (
            load_file(str(directory / "inputs.safetensors")),
            load_file(str(directory / "expected.safetensors")),
            meta,
        )

    return load


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield
