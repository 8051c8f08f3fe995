"""Full-size architectures: state-dict keys, shapes and parameter counts of the
six published checkpoints (so real weights load strictly), built from their
config.json and from this package's hparams/*.yaml."""

import json

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.checkpoints import _from_v001_layout
from tests.conftest import GOLDEN, ROOT

CHECKPOINTS = [
    "focalcodec_50hz",
    "focalcodec_25hz",
    "focalcodec_12_5hz",
    "focalcodec_50hz_2k_causal",
    "focalcodec_50hz_4k_causal",
    "focalcodec_50hz_65k_causal",
]
PARAMS_MILLIONS = {
    "focalcodec_50hz": 142.1,
    "focalcodec_25hz": 144.2,
    "focalcodec_12_5hz": 145.3,
    "focalcodec_50hz_2k_causal": 249.0,
    "focalcodec_50hz_4k_causal": 249.0,
    "focalcodec_50hz_65k_causal": 249.0,
}


def manifest(name: str) -> dict:
    return json.loads((GOLDEN / "manifests" / f"{name}.json").read_text())


def assert_matches_manifest(codec, expected: dict) -> None:
    state = codec.state_dict()
    assert sorted(state) == sorted(expected), (
        f"missing {sorted(set(expected) - set(state))[:5]}, "
        f"unexpected {sorted(set(state) - set(expected))[:5]}"
    )
    for key, spec in expected.items():
        assert list(state[key].shape) == spec["shape"], key
        assert str(state[key].dtype).replace("torch.", "") == spec["dtype"], key


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_architecture_from_config(name):
    info = manifest(name)
    with torch.device("meta"):
        codec = FocalCodec.from_config(info["config"])
    assert_matches_manifest(codec, info["state_dict"])
    total = sum(value.numel() for value in codec.state_dict().values())
    assert total == info["param_counts"]["total_state_dict_numel"]
    assert round(total / 1e6, 1) == PARAMS_MILLIONS[name]
    for part, count in info["param_counts"]["per_component_state_dict_numel"].items():
        assert sum(v.numel() for v in getattr(codec, part).state_dict().values()) == count
    props = info["properties"]
    assert codec.sample_rate_input == props["sample_rate_input"]
    assert codec.sample_rate_output == props["sample_rate_output"]
    assert codec.token_rate == props["token_rate_hz"]
    assert codec.codebook_size == props["codebook_size"]
    assert codec.bitrate == props["bitrate_bps"]
    assert codec.causal == props["causal"]
    assert codec.latency == props["latency_ms (FocalCodec.latency)"]
    assert codec.chunk_size == 1280


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_architecture_from_hparams(name):
    """The shipped inference yaml builds exactly the official architecture."""
    text = (ROOT / "hparams" / f"{name}.yaml").read_text()
    assert f"weights_source: lucadellalib/{name}\n" in text
    with torch.device("meta"):
        hparams = load_hyperpyyaml(text)
    assert_matches_manifest(hparams["codec"], manifest(name)["state_dict"])
    assert hparams["sample_rate_output"] == hparams["codec"].sample_rate_output


@pytest.mark.parametrize("name", ["focalcodec_50hz", "focalcodec_25hz", "focalcodec_12_5hz"])
def test_released_v001_files_map_onto_the_architecture(name):
    """The released non-causal files (v0.0.1 key layout, v0.0.1 config.json)
    rename onto exactly our state dict."""
    layout = manifest(name)["official_file_layout_v001"]
    with torch.device("meta"):
        codec = FocalCodec.from_config(layout["likely_official_config_json"])
        released = {
            key: torch.empty(spec["shape"], dtype=getattr(torch, spec["dtype"]))
            for key, spec in layout["state_dict"].items()
        }
    renamed = _from_v001_layout(released)
    state = codec.state_dict()
    assert sorted(renamed) == sorted(state)
    assert all(renamed[key].shape == state[key].shape for key in state)
