"""Low-level operators shared by the lobes: linear layers, frame convolutions, padding masks.

Each operator has one definition; fast CPU kernels sit behind a capability check with the
standard torch operator as the fallback.
"""
