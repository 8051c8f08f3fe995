"""Speed, memory and efficiency benchmarks of speechbrain-focalcodec (see docs/benchmarks.md)."""
