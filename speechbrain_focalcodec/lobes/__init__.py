"""Building blocks of FocalCodec, one component per module.

Authors
 * speechbrain-focalcodec developers 2026
"""

from speechbrain_focalcodec.lobes.bsq import BinarySphericalQuantizer
from speechbrain_focalcodec.lobes.compressor import FocalCompressor
from speechbrain_focalcodec.lobes.decompressor import FocalDecompressor
from speechbrain_focalcodec.lobes.vocos import Vocos
from speechbrain_focalcodec.lobes.wavenext import WaveNeXt
from speechbrain_focalcodec.lobes.wavlm import WavLM

__all__ = [
    "BinarySphericalQuantizer",
    "FocalCompressor",
    "FocalDecompressor",
    "Vocos",
    "WaveNeXt",
    "WavLM",
]
