"""What the process may use of its machine.

Authors
 * speechbrain-focalcodec developers 2026
"""

import os

__all__ = ["available_cpus"]


def available_cpus() -> int:
    """CPUs this process may run on: its affinity where the system tells it
    (a container or ``taskset`` may allow fewer than the machine has), else
    the machine's count.

    Returns
    -------
    cpus : int
        At least 1.

    Example
    -------
    >>> available_cpus() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
