"""The full-size FocalCodec-Stream recipe builds exactly the released causal models.

A codec assembled from a ``joint_<size>.yaml`` (causal encoder, compressor,
quantizer, decompressor with its refiner) and ``wavenext.yaml`` (decoder) has
the state-dict keys, shapes and dtypes of the released 2k/4k/65k causal
checkpoints (``tests/golden/manifests``), so an exported codec loads wherever
they do; the ``bsq_<size>.yaml`` modules load into the joint ones (the refiner
being the only addition). Everything is built on the meta device.
"""

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_focalcodec import FocalCodec
from tests.conftest import ROOT
from tests.test_manifests import assert_matches_manifest, manifest

HPARAMS = ROOT / "recipes" / "LibriTTS" / "focalcodec-stream" / "hparams"
SIZES = {"2k": 2048, "4k": 4096, "65k": 65536}


def _load(name: str) -> dict:
    with torch.device("meta"):
        return load_hyperpyyaml((HPARAMS / name).read_text(), {"data_folder": "unused"})


@pytest.fixture(scope="module")
def wavenext():
    return _load("wavenext.yaml")


@pytest.mark.parametrize("size", sorted(SIZES))
def test_joint_and_wavenext_yamls_build_the_released_causal_model(size, wavenext):
    joint = _load(f"joint_{size}.yaml")
    with torch.device("meta"):
        codec = FocalCodec(
            encoder=joint["causal_encoder"],
            compressor=joint["compressor"],
            quantizer=joint["quantizer"],
            decompressor=joint["decompressor"],
            decoder=wavenext["decoder"],
        )
    assert_matches_manifest(codec, manifest(f"focalcodec_50hz_{size}_causal")["state_dict"])
    assert codec.codebook_size == SIZES[size] and codec.causal and codec.latency == 80.0


@pytest.mark.parametrize("size", sorted(SIZES))
def test_bsq_stage_modules_fit_the_joint_stage(size):
    bsq, joint = _load(f"bsq_{size}.yaml"), _load(f"joint_{size}.yaml")
    for name in ("compressor", "decompressor"):
        ours, theirs = bsq[name].state_dict(), joint[name].state_dict()
        added = sorted(set(theirs) - set(ours))
        assert all(key.startswith("refiner.") for key in added)
        assert bool(added) == (name == "decompressor")
        assert {k: v.shape for k, v in ours.items()} == {k: theirs[k].shape for k in ours}
    # The stage-3 student and the encoder of stages 4 and 5 are the same model.
    wavlm = _load("wavlm.yaml")["causal_encoder"].state_dict()
    assert {k: v.shape for k, v in wavlm.items()} == {
        k: v.shape for k, v in joint["causal_encoder"].state_dict().items()
    }
    assert wavlm.keys() == bsq["encoder"].state_dict().keys()
