"""Evaluation metrics: codebook statistics and offline behaviour of model metrics."""

import logging
import time

import pytest
import torch

from speechbrain_focalcodec.evaluation.codes import code_counts, code_entropy, code_usage
from speechbrain_focalcodec.evaluation.models import (
    DWER,
    UTMOS,
    MetricUnavailable,
    SpeakerSimilarity,
    load_metrics,
    reachable,
)


def test_code_statistics_ignore_padding():
    toks = torch.tensor([[0, 1, 2, 3], [1, 1, 7, 7]])
    counts = code_counts(toks, 8, torch.tensor([1.0, 0.5]))
    assert counts.tolist() == [1, 3, 1, 1, 0, 0, 0, 0]
    assert code_usage(counts) == 50.0
    assert 0.0 < code_entropy(counts) < 1.0
    assert code_entropy(torch.ones(8)) == pytest.approx(1.0)


@pytest.mark.skipif(reachable("huggingface.co"), reason="checks the offline behaviour")
def test_model_metrics_switch_off_fast_offline(caplog):
    start = time.monotonic()
    for factory in (UTMOS, DWER, SpeakerSimilarity):
        with pytest.raises(MetricUnavailable):
            factory(16000)
    with caplog.at_level(logging.WARNING):
        metrics = load_metrics(["utmos", "dwer", "speaker_similarity"], 16000)
    assert metrics == {}
    switched_off = [r for r in caplog.records if "switched off" in r.getMessage()]
    assert len(switched_off) == 3
    assert time.monotonic() - start < 10, "offline detection must not wait on retries"


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
