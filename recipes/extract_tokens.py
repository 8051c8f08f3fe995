#!/usr/bin/env python3
"""Extracts FocalCodec tokens for a SpeechBrain manifest (resumable, shardable).

> python extract_tokens.py train.json --codec lucadellalib/focalcodec_50hz --output_folder tokens
> torchrun --nproc_per_node 4 extract_tokens.py train.csv --codec ... --output_folder tokens

See ``speechbrain_focalcodec.extraction`` (``--help`` for the options).

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys

from speechbrain_focalcodec.extraction import main

if __name__ == "__main__":
    sys.exit(main())
