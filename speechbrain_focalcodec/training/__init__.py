"""Training code shared by the recipes (recipes/LibriTTS/focalcodec and focalcodec-stream).

Data preparation of LibriTTS or of any folder of audio, dynamic batching, the Brains and
their common parts, the GAN decoder stage, atomic checkpoints, teacher-encoder fetching,
feature caching and export to one codec directory. The recipe folders hold only their
``train.py``, hyperparameter files and demo.
"""
