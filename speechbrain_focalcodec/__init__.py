"""FocalCodec for SpeechBrain: low-bitrate single-codebook speech coding.

Authors
 * speechbrain-focalcodec developers 2026
"""

from speechbrain_focalcodec.codec import FocalCodec

__version__ = "0.1.0"

__all__ = ["FocalCodec", "__version__"]
