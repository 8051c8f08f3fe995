"""Installation of speechbrain-focalcodec."""

from pathlib import Path

from setuptools import find_packages, setup

EVAL = ["pesq>=0.0.4", "pystoi>=0.3", "matplotlib>=3.5", "onnxruntime>=1.18", "speechmos>=0.0.1"]

setup(
    name="speechbrain-focalcodec",
    version="0.1.0",
    description=(
        "FocalCodec and FocalCodec-Stream low-bitrate speech codecs as SpeechBrain lobes, "
        "interfaces and recipes"
    ),
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["speechbrain_focalcodec", "speechbrain_focalcodec.*"]),
    install_requires=[
        "speechbrain>=1.1.2",
        # The versions the package is tested with (weights-only loading, the fast paths).
        "torch>=2.14",
        "torchaudio>=2.11",
        "hyperpyyaml>=1.2",
        "huggingface_hub>=0.20",
        "safetensors>=0.4",
        "soundfile>=0.12",
        "sentencepiece>=0.1.99",
        "tqdm>=4.42",
    ],
    extras_require={
        # Evaluation: PESQ, STOI, spectrogram plots, DNSMOS (ONNX model shipped by speechmos).
        "eval": EVAL,
        # Tests and linting; transformers for the model-based metrics (Whisper, WavLM-SV).
        "dev": [
            "pytest>=7",
            "ruff>=0.5",
            "transformers>=4.40",
            "onnx>=1.16",
            "onnxruntime>=1.18",
        ]
        + EVAL,
        # ONNX export of the encoder and decoder (speechbrain_focalcodec.onnx_export).
        "onnx": ["onnx>=1.16", "onnxruntime>=1.18"],
        # The training recipe (recipes/LibriTTS/focalcodec): spectrogram plots and the
        # validation metrics.
        "training": ["transformers>=4.40"] + EVAL,
    },
    entry_points={
        "console_scripts": [
            "focalcodec=speechbrain_focalcodec.cli:main",
            "focalcodec-extract-tokens=speechbrain_focalcodec.extraction:main",
            "focalcodec-evaluate=speechbrain_focalcodec.evaluation.evaluate:main",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
    ],
)
