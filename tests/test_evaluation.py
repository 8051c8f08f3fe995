"""Evaluation metrics: codebook statistics and offline behaviour of model metrics."""

import logging

import pytest
import torch
import transformers

from speechbrain_focalcodec.evaluation.codes import code_counts, code_entropy, code_usage
from speechbrain_focalcodec.evaluation.models import (
    DWER,
    UTMOS,
    MetricUnavailable,
    SpeakerSimilarity,
    load_metrics,
)


def test_code_statistics_ignore_padding():
    toks = torch.tensor([[0, 1, 2, 3], [1, 1, 7, 7]])
    counts = code_counts(toks, 8, torch.tensor([1.0, 0.5]))
    assert counts.tolist() == [1, 3, 1, 1, 0, 0, 0, 0]
    assert code_usage(counts) == 50.0
    assert 0.0 < code_entropy(counts) < 1.0
    assert code_entropy(torch.ones(8)) == pytest.approx(1.0)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Downloads are off (HF_HUB_OFFLINE), the caches are empty, and every Hugging
    Face load records what it was asked."""
    import huggingface_hub.constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    calls = []

    def from_pretrained(source, **kwargs):
        calls.append(source)
        try:
            raise LocalEntryNotFoundError("Cannot find the requested files in the disk cache")
        except LocalEntryNotFoundError as error:
            raise OSError(f"{source} is not in the local cache") from error

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))
    for name in ("AutoModelForAudioXVector", "WhisperProcessor", "WhisperForConditionalGeneration"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", from_pretrained)
    return calls


def test_model_metrics_switch_off_offline(offline, caplog):
    """Offline, models are only looked up in the local cache, and each unavailable
    metric is one log line saying that downloads are off."""
    for factory in (UTMOS, DWER, SpeakerSimilarity):
        with pytest.raises(MetricUnavailable, match="downloads are off"):
            factory(16000)
    with caplog.at_level(logging.WARNING):
        metrics = load_metrics(["utmos", "dwer", "speaker_similarity"], 16000)
    assert metrics == {}
    switched_off = [r for r in caplog.records if "switched off" in r.getMessage()]
    assert len(switched_off) == 3
    assert all("downloads are off" in r.getMessage() for r in switched_off)
    assert offline == ["openai/whisper-small", "microsoft/wavlm-base-sv"] * 2


def test_unknown_metric():
    with pytest.raises(ValueError, match="Unknown metrics"):
        load_metrics(["pesq"], 16000)


def test_utmos_with_given_model():
    """Batches are scored item by item, trimmed to their lengths."""

    class Length(torch.nn.Module):
        def forward(self, sig, sample_rate):
            return torch.tensor([sig.shape[1] / sample_rate])

    metric = UTMOS(8000, model=Length())
    metric.append(["a", "b"], torch.zeros(2, 8000), torch.tensor([1.0, 0.5]))
    assert metric.scores == [1.0, 0.5]
    assert metric.summarize("average") == 0.75
