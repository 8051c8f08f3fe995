"""Fixtures shared by the tests: bundled speech, golden vectors, tiny codecs."""

import json
import os
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from safetensors.torch import load_file

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.tiny import tiny_codec, tiny_config  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
SAMPLES = ROOT / "samples"
LIBRISPEECH = sorted((SAMPLES / "librispeech-dev-clean").glob("*.flac"))


def golden_config(name: str) -> Dict:
    """config.json of a golden tiny model."""
    return json.loads((GOLDEN / name / "config.json").read_text())


def random_codec(variant: str, seed: int = 0) -> FocalCodec:
    """A tiny codec with random (non-trivial) weights, in eval mode."""
    return tiny_codec(variant, seed)


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


@pytest.fixture(scope="session")
def device() -> torch.device:
    """Device of the device-parametrised tests (marker ``device``): the environment
    variable ``FOCALCODEC_TEST_DEVICE`` (e.g. ``cuda``), else the CPU; see
    ``python -m benchmarks.gpu_check``."""
    name = os.environ.get("FOCALCODEC_TEST_DEVICE", "cpu")
    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise pytest.UsageError(f"FOCALCODEC_TEST_DEVICE={name!r} is not usable: {error}") from None
    return device


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield
