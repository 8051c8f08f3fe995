"""Pytest configuration shared by the tests and the doctests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict) -> None:
    # Doctests use `torch` without importing it, as in SpeechBrain.
    doctest_namespace["torch"] = torch
    torch.manual_seed(0)
