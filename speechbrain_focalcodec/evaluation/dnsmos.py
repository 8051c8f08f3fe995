"""DNSMOS: predicted MOS of speech quality (Reddy et al., ICASSP 2022,
https://arxiv.org/abs/2110.01763), P.808 model, as the FocalCodec papers
report for enhancement and separation.

The ONNX model (``model_v8.onnx`` of microsoft/DNS-Challenge) is downloaded
on first use into the torch hub cache; it scores 9.01 s windows (hop 1 s) of
16 kHz audio from a 120-band log-mel spectrogram, and an utterance's score is
the mean over its windows (shorter utterances are repeated to fill one).

Authors
 * speechbrain-focalcodec developers 2026
"""

from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import torch
import torchaudio
from speechbrain.utils.metric_stats import MetricStats
from torch import Tensor

from speechbrain_focalcodec.evaluation.models import SAMPLE_RATE, MetricUnavailable, reachable

__all__ = ["DNSMOS", "dnsmos_features"]

WINDOW_SECONDS = 9.01
URL = "https://github.com/microsoft/DNS-Challenge/raw/master/DNSMOS/DNSMOS/model_v8.onnx"

_MEL = torchaudio.transforms.MelSpectrogram(
    sample_rate=SAMPLE_RATE,
    n_fft=321,
    hop_length=160,
    n_mels=120,
    power=2.0,
    mel_scale="slaney",
    norm="slaney",
    center=True,
    pad_mode="constant",
)


def dnsmos_features(window: Tensor) -> Tensor:
    """Input of the P.808 model for one window: ``[frames, 120]`` scaled log-mel.

    Power mel spectrogram (321-point FFT, hop 160, Slaney mel scale) in dB
    relative to its maximum, floored 80 dB below it, then ``(dB + 40) / 40``.

    Arguments
    ---------
    window : torch.Tensor
        ``[samples]`` at 16 kHz.

    Returns
    -------
    feats : torch.Tensor
        ``[frames, 120]``.

    Example
    -------
    >>> dnsmos_features(torch.randn(144000)).shape
    torch.Size([900, 120])
    """
    power = _MEL(window.float().cpu())
    db = 10.0 * torch.log10(power.clamp(min=1e-10))
    db = db - db.max()
    db = db.clamp(min=-80.0)
    return ((db + 40.0) / 40.0).T


class DNSMOS(MetricStats):
    """DNSMOS P.808 of each signal (1 to 5).

    Arguments
    ---------
    sample_rate : int
        Rate of the signals passed to ``append``.
    model : callable, optional
        Maps features ``[1, frames, 120]`` (numpy float32) to a score; by
        default the ONNX P.808 model (needs ``onnxruntime``).

    Example
    -------
    >>> metric = DNSMOS(16000, model=lambda feats: float(feats.shape[1]))
    >>> metric.append(["a"], torch.randn(1, 16000 * 11))
    >>> metric.summarize("average")  # two 9.01 s windows (hop 1 s) of 900 frames
    900.0
    """

    def __init__(
        self, sample_rate: int, model: Optional[Callable[[np.ndarray], float]] = None
    ) -> None:
        super().__init__(metric=None)
        self.sample_rate = sample_rate
        self.model = model if model is not None else self._load()

    @staticmethod
    def _load() -> Callable[[np.ndarray], float]:
        try:
            import onnxruntime
        except ImportError:
            raise MetricUnavailable("DNSMOS needs `pip install onnxruntime`") from None
        path = Path(torch.hub.get_dir()) / "dnsmos" / "model_v8.onnx"
        if not path.is_file():
            if not reachable("github.com"):
                raise MetricUnavailable(f"DNSMOS needs github.com or a cached {path}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(URL, str(path), progress=False)
            except Exception as error:
                raise MetricUnavailable(f"DNSMOS model cannot be downloaded: {error}") from None
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda feats: float(session.run(None, {name: feats})[0].reshape(-1)[0])

    def score(self, sig: Tensor) -> float:
        """DNSMOS of one signal.

        Arguments
        ---------
        sig : torch.Tensor
            ``[samples]`` at ``sample_rate``.

        Returns
        -------
        score : float
        """
        sig = torchaudio.functional.resample(sig.float().cpu(), self.sample_rate, SAMPLE_RATE)
        size = int(WINDOW_SECONDS * SAMPLE_RATE)
        if sig.numel() == 0:
            raise ValueError("DNSMOS needs a non-empty signal")
        while sig.shape[0] < size:
            sig = torch.cat([sig, sig])
        num_windows = int(sig.shape[0] / SAMPLE_RATE - WINDOW_SECONDS) + 1
        scores: List[float] = []
        for index in range(num_windows):
            window = sig[index * SAMPLE_RATE : index * SAMPLE_RATE + size]
            feats = dnsmos_features(window[:-160]).numpy()[None].astype(np.float32)
            scores.append(self.model(feats))
        return float(np.mean(scores))

    @torch.no_grad()
    def append(self, ids: List[str], sig: Tensor, lens: Optional[Tensor] = None) -> None:
        """Scores a batch of signals.

        Arguments
        ---------
        ids : list of str
            Utterance ids.
        sig : torch.Tensor
            Signals, ``[batch, samples]`` at ``sample_rate``.
        lens : torch.Tensor, optional
            Relative lengths.
        """
        counts = [sig.shape[1]] * len(ids) if lens is None else torch.round(lens * sig.shape[1])
        for utt_id, item, count in zip(ids, sig, counts):
            self.ids.append(utt_id)
            self.scores.append(self.score(item[: int(count)]))
