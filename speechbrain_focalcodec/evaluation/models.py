"""Model-based speech quality metrics, as in the FocalCodec papers.

* ``UTMOS``: predicted MOS, UTMOS22 strong learner (Saeki et al., 2022);
* ``DWER``: word error rate between Whisper transcripts of the reference and
  of the reconstruction, after Whisper's English normalizer;
* ``SpeakerSimilarity``: cosine similarity (x100) of WavLM-base-sv speaker
  embeddings of the reference and the reconstruction;
* ``DNSMOS``: non-intrusive overall quality of noisy speech (DNSMOS P.835
  OVRL, Reddy et al., 2022), from the ONNX model that the ``speechmos``
  package ships (no download).

Each downloads its model on first use (Hugging Face Hub, GitHub) or reads it
from the local cache. Hugging Face downloads follow ``huggingface_hub``'s
settings (``HF_ENDPOINT`` mirrors, ``HF_HUB_OFFLINE``; see
``speechbrain_focalcodec.hub``); ``HF_HUB_OFFLINE=1`` also keeps UTMOS from
contacting GitHub. When a model can be neither downloaded nor found in the
cache, construction raises ``MetricUnavailable`` with a one-line reason (not
found, server error, offline, unreachable), so that callers can log one line
and go on with other metrics.

Authors
 * speechbrain-focalcodec developers 2026
"""

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torchaudio
from speechbrain.utils.metric_stats import ErrorRateStats, MetricStats
from torch import Tensor

from speechbrain_focalcodec.hub import cache_only, hub_errors, is_offline
from speechbrain_focalcodec.ops.padding import lens_to_counts

__all__ = [
    "DNSMOS",
    "DWER",
    "MetricUnavailable",
    "SpeakerSimilarity",
    "UTMOS",
    "load_metrics",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class MetricUnavailable(RuntimeError):
    """The model behind a metric can be neither downloaded nor found in the cache."""


def _from_hub(load: Callable[..., Any], source: str, name: str) -> Any:
    """Runs a ``from_pretrained`` of ``source`` (given ``local_files_only``), its failure a
    one-line ``MetricUnavailable``; an unreachable endpoint goes straight to the cache."""
    with hub_errors(source, MetricUnavailable, f"{name} cannot be loaded: "):
        return load(local_files_only=cache_only())


def _trim(sig: Tensor, lens: Optional[Tensor]) -> List[Tensor]:
    if lens is None:
        return list(sig)
    counts = lens_to_counts(lens, sig.shape[1]).tolist()
    return [row[:count] for row, count in zip(sig, counts)]


class UTMOS(MetricStats):
    """Predicted mean opinion score (UTMOS22 strong, 1 to 5).

    Arguments
    ---------
    sample_rate : int
        Rate of the signals passed to ``append``.
    model : torch.nn.Module, optional
        A loaded predictor; by default ``utmos22_strong`` from
        ``tarepan/SpeechMOS`` (torch.hub).
    """

    REPO = "tarepan/SpeechMOS:v1.2.0"

    def __init__(self, sample_rate: int, model: Optional[torch.nn.Module] = None) -> None:
        super().__init__(metric=None)
        self.sample_rate = sample_rate
        self.model = model if model is not None else self._load()

    def _load(self) -> torch.nn.Module:
        cached = Path(torch.hub.get_dir()) / self.REPO.replace("/", "_").replace(":", "_")
        if is_offline() and not cached.is_dir():
            raise MetricUnavailable(
                f"UTMOS needs github.com (torch.hub) or a cached copy in {cached}, and "
                "downloads are off (HF_HUB_OFFLINE=1)"
            )
        try:
            return torch.hub.load(
                self.REPO, "utmos22_strong", trust_repo=True, skip_validation=True
            )
        except Exception as error:
            reason = " ".join(f"{type(error).__name__}: {error}".split())
            raise MetricUnavailable(
                f"UTMOS cannot be loaded from github.com (torch.hub) or {cached}: {reason:.300}"
            ) from None

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
        self.model.to(sig.device).eval()
        for utt_id, item in zip(ids, _trim(sig, lens)):
            item = torchaudio.functional.resample(item, self.sample_rate, SAMPLE_RATE)
            self.ids.append(utt_id)
            self.scores.append(self.model(item[None], SAMPLE_RATE).item())


class DNSMOS(MetricStats):
    """DNSMOS P.835 overall quality (OVRL, 1 to 5) of (noisy) speech.

    The score of an utterance is the mean over 9.01 s windows taken every
    second (shorter utterances are repeated to fill one window) of the
    model's calibrated OVRL prediction; ``sig`` and ``bak`` keep the speech
    and background scores of each utterance.

    Arguments
    ---------
    sample_rate : int
        Rate of the signals passed to ``append``.
    model_path : str, optional
        ``sig_bak_ovr.onnx``; by default the one in the ``speechmos`` package.
    """

    WINDOW = 9.01
    # Calibration polynomials of the P.835 model (highest degree first).
    POLY_SIG = (-0.08397278, 1.22083953, 0.0052439)
    POLY_BAK = (-0.13166888, 1.60915514, -0.39604546)
    POLY_OVR = (-0.06766283, 1.11546468, 0.04602535)

    def __init__(self, sample_rate: int, model_path: Optional[str] = None) -> None:
        super().__init__(metric=None)
        self.sample_rate = sample_rate
        self.sig: List[float] = []
        self.bak: List[float] = []
        try:
            import onnxruntime
        except ImportError:
            raise MetricUnavailable("DNSMOS needs `pip install onnxruntime`") from None
        if model_path is None:
            spec = importlib.util.find_spec("speechmos")
            if spec is None or not spec.submodule_search_locations:
                raise MetricUnavailable("DNSMOS needs `pip install speechmos` (its ONNX model)")
            model_path = os.path.join(
                spec.submodule_search_locations[0], "dnsmos_models", "sig_bak_ovr.onnx"
            )
        if not os.path.isfile(model_path):
            raise MetricUnavailable(f"DNSMOS model not found: {model_path}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(
            model_path, options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def clear(self) -> None:
        """Forgets the accumulated scores."""
        super().clear()
        self.sig, self.bak = [], []

    @staticmethod
    def _poly(coefficients: Tuple[float, ...], x: float) -> float:
        result = 0.0
        for coefficient in coefficients:
            result = result * x + coefficient
        return result

    def score(self, sig: Tensor) -> Tuple[float, float, float]:
        """Speech, background and overall scores of one waveform.

        Arguments
        ---------
        sig : torch.Tensor
            Waveform at 16 kHz, shape ``[samples]``.

        Returns
        -------
        scores : tuple of float
            ``(sig, bak, ovrl)``.
        """
        window = int(self.WINDOW * SAMPLE_RATE)
        sig = sig.float().cpu()
        if not bool(torch.isfinite(sig).all()) or sig.numel() == 0:
            raise ValueError("DNSMOS needs a non-empty finite waveform")
        while sig.shape[0] < window:
            sig = torch.cat([sig, sig])
        hops = int(sig.shape[0] / SAMPLE_RATE - self.WINDOW) + 1
        raw = []
        for hop in range(hops):
            segment = sig[hop * SAMPLE_RATE : hop * SAMPLE_RATE + window]
            if segment.shape[0] < window:
                continue
            feed = {self.input_name: segment.clamp(-1.0, 1.0)[None].numpy()}
            raw.append(self.session.run(None, feed)[0][0])
        # Calibration is applied per window, then averaged.
        scores = [
            sum(self._poly(poly, float(r[i])) for r in raw) / len(raw)
            for i, poly in enumerate((self.POLY_SIG, self.POLY_BAK, self.POLY_OVR))
        ]
        return scores[0], scores[1], scores[2]

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
        for utt_id, item in zip(ids, _trim(sig, lens)):
            item = torchaudio.functional.resample(item, self.sample_rate, SAMPLE_RATE)
            speech, background, overall = self.score(item)
            self.ids.append(utt_id)
            self.scores.append(overall)
            self.sig.append(speech)
            self.bak.append(background)


class SpeakerSimilarity(MetricStats):
    """Cosine similarity x100 of WavLM-base-sv speaker embeddings.

    Arguments
    ---------
    sample_rate : int
        Rate of the signals passed to ``append``.
    source : str
        Hugging Face model.
    model : torch.nn.Module, optional
        A loaded ``AutoModelForAudioXVector``.
    """

    def __init__(
        self,
        sample_rate: int,
        source: str = "microsoft/wavlm-base-sv",
        model: Optional[torch.nn.Module] = None,
    ) -> None:
        super().__init__(metric=None)
        self.sample_rate = sample_rate
        if model is None:
            try:
                from transformers import AutoModelForAudioXVector
            except ImportError:
                raise MetricUnavailable(
                    "Speaker similarity needs `pip install transformers`"
                ) from None
            model = _from_hub(
                lambda **kwargs: AutoModelForAudioXVector.from_pretrained(source, **kwargs),
                source,
                "Speaker similarity model",
            )
        self.model = model

    @torch.no_grad()
    def append(
        self, ids: List[str], hyp_sig: Tensor, ref_sig: Tensor, lens: Optional[Tensor] = None
    ) -> None:
        """Scores reconstructions against references.

        Arguments
        ---------
        ids : list of str
            Utterance ids.
        hyp_sig : torch.Tensor
            Reconstructions, ``[batch, samples]`` at ``sample_rate``.
        ref_sig : torch.Tensor
            References, same shape.
        lens : torch.Tensor, optional
            Relative lengths.
        """
        self.model.to(hyp_sig.device).eval()
        for utt_id, hyp, ref in zip(ids, _trim(hyp_sig, lens), _trim(ref_sig, lens)):
            pair = torchaudio.functional.resample(
                torch.stack([hyp, ref]), self.sample_rate, SAMPLE_RATE
            )
            # The x-vector head needs a few frames.
            pair = torch.nn.functional.pad(pair, [0, max(0, 4880 - pair.shape[1])])
            embeddings = self.model(input_values=pair).embeddings
            score = torch.nn.functional.cosine_similarity(embeddings[0], embeddings[1], dim=-1)
            self.ids.append(utt_id)
            self.scores.append(100.0 * score.item())


class DWER(MetricStats):
    """Word error rate of Whisper transcripts of reconstructions against those of
    the references ("differential" WER: no ground-truth text needed).

    Arguments
    ---------
    sample_rate : int
        Rate of the signals passed to ``append``.
    source : str
        Whisper model on the Hugging Face Hub.
    language : str
        Transcription language.
    """

    def __init__(
        self, sample_rate: int, source: str = "openai/whisper-small", language: str = "english"
    ) -> None:
        super().__init__(metric=None)
        self.sample_rate = sample_rate
        self.language = language
        try:
            from transformers import WhisperForConditionalGeneration, WhisperProcessor
        except ImportError:
            raise MetricUnavailable("dWER needs `pip install transformers`") from None
        self.processor = _from_hub(
            lambda **kwargs: WhisperProcessor.from_pretrained(source, **kwargs), source, "Whisper"
        )
        self.model = _from_hub(
            lambda **kwargs: WhisperForConditionalGeneration.from_pretrained(source, **kwargs),
            source,
            "Whisper",
        )
        self.wer = ErrorRateStats()

    def clear(self) -> None:
        """Forgets the accumulated statistics."""
        super().clear()
        if hasattr(self, "wer"):
            self.wer.clear()

    @torch.no_grad()
    def transcribe(self, sigs: List[Tensor]) -> List[str]:
        """Normalized Whisper transcripts.

        Arguments
        ---------
        sigs : list of torch.Tensor
            Signals at ``sample_rate``.

        Returns
        -------
        texts : list of str
        """
        audio = [
            torchaudio.functional.resample(sig, self.sample_rate, SAMPLE_RATE).cpu().numpy()
            for sig in sigs
        ]
        inputs = self.processor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        device = next(self.model.parameters()).device
        ids = self.model.eval().generate(
            inputs.input_features.to(device), language=self.language, task="transcribe"
        )
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        return [self.processor.tokenizer.normalize(text) for text in texts]

    def append(
        self, ids: List[str], hyp_sig: Tensor, ref_sig: Tensor, lens: Optional[Tensor] = None
    ) -> None:
        """Transcribes reconstructions and references and accumulates errors.

        Arguments
        ---------
        ids : list of str
            Utterance ids.
        hyp_sig : torch.Tensor
            Reconstructions, ``[batch, samples]`` at ``sample_rate``.
        ref_sig : torch.Tensor
            References, same shape.
        lens : torch.Tensor, optional
            Relative lengths.
        """
        self.model.to(hyp_sig.device)
        hyps = self.transcribe(_trim(hyp_sig, lens))
        refs = self.transcribe(_trim(ref_sig, lens))
        self.wer.append(ids, [h.split() for h in hyps], [r.split() for r in refs])
        self.ids += ids
        self.scores += [
            s["WER"]
            for s in self.wer.scores[-len(ids) :]  # per-utterance WER (%)
        ]

    def summarize(self, field: Optional[str] = None) -> Any:
        """Corpus-level WER (%), or the full ``ErrorRateStats`` summary.

        Arguments
        ---------
        field : str, optional
            A key of the summary (``"error_rate"`` is the WER).

        Returns
        -------
        summary : dict or float
        """
        summary = self.wer.summarize()
        return summary if field is None else summary[field]


def load_metrics(
    names: List[str], sample_rate: int, log: Optional[logging.Logger] = None
) -> Dict[str, MetricStats]:
    """Builds the available model-based metrics, logging one line per missing one.

    Arguments
    ---------
    names : list of str
        Among ``"utmos"``, ``"dwer"``, ``"speaker_similarity"``, ``"dnsmos"``.
    sample_rate : int
        Rate of the signals that will be scored.
    log : logging.Logger, optional
        Where to report unavailable metrics.

    Returns
    -------
    metrics : dict
        Name -> metric, for those that could be loaded.
    """
    factories = {
        "utmos": UTMOS,
        "dwer": DWER,
        "speaker_similarity": SpeakerSimilarity,
        "dnsmos": DNSMOS,
    }
    unknown = sorted(set(names) - set(factories))
    if unknown:
        raise ValueError(f"Unknown metrics {unknown}; choose among {sorted(factories)}")
    metrics = {}
    for name in names:
        try:
            metrics[name] = factories[name](sample_rate)
        except MetricUnavailable as error:
            # One line: the messages of transformers span several.
            reason = " ".join(str(error).split())
            (log or logger).warning("Metric %s switched off: %s", name, reason)
    return metrics
