"""Metrics for codec evaluation and training.

``codes``: codebook statistics that need no model (usage, entropy).
``models``: UTMOS, dWER and speaker similarity, which download pretrained
models; offline they raise ``MetricUnavailable`` instead of hanging.

Authors
 * speechbrain-focalcodec developers 2026
"""
