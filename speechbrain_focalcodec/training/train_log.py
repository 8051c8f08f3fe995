"""Reading back the ``train_log.txt`` that SpeechBrain's ``FileTrainLogger`` writes.

Each line holds ``key: value`` pairs: first the metadata (epoch, lr, steps),
then, after `` - ``, the statistics of each split prefixed by its name::

    epoch: 1, lr: 5.00e-04, steps: 15 - train loss: 1.06e-01 - valid loss: 2.1e-01

Authors
 * speechbrain-focalcodec developers 2026
"""

from pathlib import Path
from typing import Dict, List, Union

__all__ = ["parse_line", "read_train_log"]


def parse_line(line: str) -> Dict[str, Dict[str, float]]:
    """Parses one line of a train log.

    Arguments
    ---------
    line : str
        A line written by ``FileTrainLogger.log_stats``.

    Returns
    -------
    record : dict
        ``meta`` and each split (``train``, ``valid``, ``test``) -> {name: value}.

    Example
    -------
    >>> record = parse_line("epoch: 2, lr: 5.00e-04 - train loss: 0.5 - valid code_usage: 40.0")
    >>> record["meta"], record["train"], record["valid"]
    ({'epoch': 2.0, 'lr': 0.0005}, {'loss': 0.5}, {'code_usage': 40.0})
    """
    parts = line.strip().split(" - ")
    record: Dict[str, Dict[str, float]] = {"meta": {}}
    for index, part in enumerate(parts):
        for item in part.split(", "):
            key, _, value = item.partition(": ")
            split = "meta"
            if index > 0:
                split, _, key = key.partition(" ")
            record.setdefault(split, {})[key] = float(value)
    return record


def read_train_log(path: Union[str, Path]) -> List[Dict[str, Dict[str, float]]]:
    """All the records of a train log, in order.

    Arguments
    ---------
    path : str or Path
        ``train_log.txt``.

    Returns
    -------
    records : list of dict
        See ``parse_line``.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [parse_line(line) for line in lines if line.strip()]
