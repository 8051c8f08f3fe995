"""Training code shared by the recipes (recipes/LibriTTS/focalcodec and focalcodec-stream).

Data preparation of LibriTTS or of any folder of audio (every file decoded once, cached),
dynamic batching, the Brains and their common parts (``codec_brain.CodecStageBrain``), the
GAN decoder stage, atomic weights-only checkpoints, teacher-encoder fetching, feature
caching, export to one codec directory, and what every ``train.py`` does around its Brain
(``runner``: threads, one-line errors; ``distributed``: no process left waiting, process
group destroyed at exit). The recipe folders hold only their ``train.py``, hyperparameter
files and demo. Command-line tools: ``python -m speechbrain_focalcodec.training.export``,
``.resynthesize`` and ``.folder_prepare``.
"""
