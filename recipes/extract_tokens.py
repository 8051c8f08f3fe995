#!/usr/bin/env python3
"""Extracts FocalCodec tokens for a SpeechBrain manifest (resumable, shardable).

> python extract_tokens.py train.json --model lucadellalib/focalcodec_50hz --output tokens
> torchrun --nproc_per_node 4 extract_tokens.py train.csv --model ... --output tokens --device cuda

See ``speechbrain_focalcodec.extraction`` (``--help`` for the options).

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys

from speechbrain_focalcodec.extraction import main

if __name__ == "__main__":
    sys.exit(main())
