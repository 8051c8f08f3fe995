"""Hugging Face Hub downloads through huggingface_hub's own endpoint (HF_ENDPOINT),
offline mode (HF_HUB_OFFLINE, local_files_only) and errors, against a local
mirror on 127.0.0.1: a wrong repository id reads "not found", a server error
"server error", offline with an empty cache says what to pass."""

import os
import socket
import subprocess
import sys
import time

import huggingface_hub.constants
import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec import hub as hub_module
from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.evaluation import models
from speechbrain_focalcodec.training import encoder as encoder_module
from tests.conftest import GOLDEN, ROOT
from tests.hub_mirror import serve

TINY = {
    "config.json": GOLDEN / "tiny_50hz" / "config.json",
    "model.safetensors": GOLDEN / "tiny_50hz" / "model.safetensors",
}
LEGACY = {  # a repository holding model.pt only (v0.0.1 style)
    "config.json": GOLDEN / "tiny_causal" / "config.json",
}


@pytest.fixture(scope="module")
def legacy_weights(tmp_path_factory):
    from safetensors.torch import load_file

    path = tmp_path_factory.mktemp("legacy") / "model.pt"
    torch.save(load_file(str(GOLDEN / "tiny_causal" / "model.safetensors")), path)
    return path


@pytest.fixture(scope="module")
def mirror(legacy_weights):
    yield from serve(
        {"someone/tiny": TINY, "someone/legacy": {**LEGACY, "model.pt": legacy_weights}},
        failing={"someone/broken"},
    )


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """huggingface_hub retries 5xx and network errors with backoff (about 23 s): the
    retries still happen, without the waits."""
    import huggingface_hub.utils._http as http

    monkeypatch.setattr(http.time, "sleep", lambda seconds: None)


def point_at(monkeypatch, url: str) -> None:
    """What HF_ENDPOINT=url does when huggingface_hub is imported."""
    constants = huggingface_hub.constants
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(monkeypatch, mirror, tmp_path):
    point_at(monkeypatch, mirror.url)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    return mirror


def one_line_error(call) -> str:
    with pytest.raises(CheckpointError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_download_from_the_mirror(hub, tmp_path):
    codec = FocalCodec.from_pretrained("someone/tiny", cache_dir=str(tmp_path / "cache"))
    reference = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    sig = torch.randn(1, 8000)
    assert torch.equal(codec.sig_to_toks(sig), reference.sig_to_toks(sig))
    assert ("HEAD", "/someone/tiny/resolve/main/model.safetensors") in hub.requests
    # Cached now: offline works.
    offline = FocalCodec.from_pretrained(
        "someone/tiny", cache_dir=str(tmp_path / "cache"), local_files_only=True
    )
    assert torch.equal(offline.sig_to_toks(sig), reference.sig_to_toks(sig))


def test_legacy_weights_file(hub, tmp_path):
    codec = FocalCodec.from_pretrained("someone/legacy", cache_dir=str(tmp_path))
    assert codec.causal


def test_wrong_repository_is_not_found(hub, tmp_path):
    message = one_line_error(
        lambda: FocalCodec.from_pretrained("someone/typo", cache_dir=str(tmp_path))
    )
    assert f"'someone/typo' (config.json) was not found on {hub.url}" in message
    assert "lucadellalib/focalcodec_50hz" in message and "unreachable" not in message


def test_server_error_is_a_server_error(hub, tmp_path):
    message = one_line_error(
        lambda: FocalCodec.from_pretrained("someone/broken", cache_dir=str(tmp_path))
    )
    assert "server error (HTTP 500)" in message and hub.url in message
    assert hub.requests.count(("HEAD", "/someone/broken/resolve/main/config.json")) > 1


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "local_files_only"])
def test_offline_with_an_empty_cache(hub, monkeypatch, tmp_path, how):
    kwargs = {"cache_dir": str(tmp_path)}
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    else:
        kwargs["local_files_only"] = True
    before = len(hub.requests)
    message = one_line_error(lambda: FocalCodec.from_pretrained("someone/tiny", **kwargs))
    assert "not in the local Hugging Face cache and downloads are off" in message
    assert "hf download someone/tiny" in message and "pass a local directory" in message
    assert len(hub.requests) == before  # nothing asked


def test_unreachable_endpoint(monkeypatch, tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    point_at(monkeypatch, url)
    message = one_line_error(
        lambda: FocalCodec.from_pretrained("someone/tiny", cache_dir=str(tmp_path))
    )
    assert f"cannot reach {url}" in message and "HF_ENDPOINT" in message


def test_unreachable_endpoint_fails_at_once(monkeypatch, tmp_path):
    """A machine without network: the metric models and the codec go straight to the
    cache and fail in one line, instead of huggingface_hub's retries with back-off
    (tens of seconds per file)."""
    pytest.importorskip("transformers")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    point_at(monkeypatch, url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)  # huggingface_hub's back-off
    with pytest.raises(models.MetricUnavailable, match=f"cannot reach {url}"):
        models.SpeakerSimilarity(16000, source="someone/tiny")
    message = one_line_error(
        lambda: FocalCodec.from_pretrained("someone/other", cache_dir=str(tmp_path))
    )
    assert f"cannot reach {url}" in message
    assert not sleeps  # no request was retried: none was sent


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120
    )


LOAD = """
from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.checkpoints import CheckpointError
try:
    print(FocalCodec.from_pretrained("someone/tiny").codebook_size)
except CheckpointError as error:
    print("error:", error)
"""


def test_environment_variables(mirror, tmp_path):
    """HF_ENDPOINT and HF_HUB_OFFLINE as set in the shell."""
    cache = str(tmp_path / "cache")
    online = run_python(LOAD, {"HF_ENDPOINT": mirror.url, "HF_HUB_CACHE": cache})
    assert online.stdout.strip() == "8192", online.stderr
    empty = str(tmp_path / "empty")
    offline = run_python(
        LOAD, {"HF_ENDPOINT": mirror.url, "HF_HUB_CACHE": empty, "HF_HUB_OFFLINE": "1"}
    )
    lines = offline.stdout.strip().splitlines()
    assert len(lines) == 1 and "downloads are off" in lines[0], offline.stdout + offline.stderr


# ---------------------------------------------------------- other downloads
def test_metric_models_report_not_found_and_server_errors(hub):
    pytest.importorskip("transformers")
    with pytest.raises(models.MetricUnavailable, match="'someone/typo' was not found on"):
        models.SpeakerSimilarity(16000, source="someone/typo")
    with pytest.raises(models.MetricUnavailable, match=r"server error \(HTTP 500\)"):
        models.SpeakerSimilarity(16000, source="someone/broken")


def test_metric_models_offline(hub, monkeypatch, caplog):
    pytest.importorskip("transformers")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(ROOT / "no-such-torch-hub"))
    with pytest.raises(models.MetricUnavailable, match="downloads are off"):
        models.SpeakerSimilarity(16000, source="someone/tiny")
    with pytest.raises(models.MetricUnavailable, match="downloads are off"):
        models.UTMOS(16000)
    assert not hasattr(models, "reachable")


def test_recipe_encoder_fetch(hub, monkeypatch, tmp_path):
    tiny = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz").encoder
    record = encoder_module.prepare_encoder(tiny, "someone/tiny", tmp_path / "enc")
    assert record["source"] == "someone/tiny" and os.path.isfile(record["weights"])
    with pytest.raises(encoder_module.EncoderUnavailable) as error:
        encoder_module.prepare_encoder(tiny, "someone/typo", tmp_path / "enc")
    assert "was not found on" in str(error.value) and "--encoder_source" in str(error.value)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(encoder_module.EncoderUnavailable) as error:
        encoder_module.prepare_encoder(tiny, "someone/other", tmp_path / "enc")
    message = str(error.value)
    assert "downloads are off" in message and "--encoder_source" in message
    assert "\n" not in message


def test_offline_errors_of_other_causes_keep_their_cause():
    """Offline, only a download failure reads "not in the cache": a permission error (or a
    full disk, a bug) says what it is."""
    error = hub_module.translate(
        PermissionError(13, "Permission denied", "/cache/x.lock"),
        "a/b",
        "config.json",
        local_files_only=True,
    )
    assert "Permission denied" in str(error) and "not in the local" not in str(error)
