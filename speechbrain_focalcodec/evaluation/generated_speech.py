"""Model-based metrics of generated speech, grouped for recipes.

Enhancement, separation and text-to-speech recipes score what they generate
with DNSMOS or UTMOS (quality, no reference), dWER (intelligibility against
the reference) and speaker similarity (against the reference); metrics whose
model is unavailable are switched off with one logged line.

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

from speechbrain_focalcodec.audio import resample
from speechbrain_focalcodec.audio_files import write_audio_file
from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.evaluation.models import load_metrics
from speechbrain_focalcodec.ops.padding import lens_to_counts

__all__ = ["GeneratedSpeechMetrics", "decode_tokens", "save_signals"]

_NAMES = {"utmos": "UTMOS", "dnsmos": "DNSMOS", "dwer": "dWER", "speaker_similarity": "SpkSim"}
_WITHOUT_REFERENCE = ("utmos", "dnsmos")


class GeneratedSpeechMetrics:
    """The available metrics among ``names``, fed together.

    Arguments
    ---------
    names : sequence of str
        Among ``utmos``, ``dnsmos``, ``dwer``, ``speaker_similarity``.
    sample_rate : int
        Rate of the signals passed to ``append``.
    log : logging.Logger, optional
        Where switched-off metrics are reported.

    Example
    -------
    >>> from speechbrain_focalcodec.evaluation.models import UTMOS
    >>> class ConstantMOS(torch.nn.Module):
    ...     def forward(self, sig, sample_rate):
    ...         return torch.tensor([3.5])
    >>> metrics = GeneratedSpeechMetrics([], 16000)
    >>> metrics.metrics["utmos"] = UTMOS(16000, model=ConstantMOS())
    >>> metrics.append(["a"], torch.randn(1, 1600), torch.randn(1, 1600))
    >>> metrics.summarize()
    {'UTMOS': 3.5}
    """

    def __init__(
        self, names: Sequence[str], sample_rate: int, log: Optional[logging.Logger] = None
    ) -> None:
        self.metrics = load_metrics(list(names), sample_rate, log)

    def append(
        self,
        ids: List[str],
        hyp_sig: Tensor,
        ref_sig: Tensor,
        lens: Optional[Tensor] = None,
        hyp_lens: Optional[Tensor] = None,
    ) -> None:
        """Scores generated signals against their references.

        Arguments
        ---------
        ids : list of str
            Utterance ids.
        hyp_sig : torch.Tensor
            Generated signals ``[batch, samples]``.
        ref_sig : torch.Tensor
            References ``[batch, samples]``, same rate.
        lens : torch.Tensor, optional
            Relative lengths of the references (and of the generated signals
            when ``hyp_lens`` is None, which requires the same shape).
        hyp_lens : torch.Tensor, optional
            Relative lengths of generated signals whose durations differ from
            the references' (text-to-speech): each pair is then scored alone,
            the shorter signal padded with silence to the longer one.
        """
        if hyp_lens is None:
            self._append(ids, hyp_sig, ref_sig, lens)
            return
        ref_lens = torch.ones(len(ids)) if lens is None else lens
        hyp_counts = lens_to_counts(hyp_lens, hyp_sig.shape[1]).tolist()
        ref_counts = lens_to_counts(ref_lens, ref_sig.shape[1]).tolist()
        for index, utt_id in enumerate(ids):
            hyp = hyp_sig[index, : hyp_counts[index]]
            ref = ref_sig[index, : ref_counts[index]]
            size = max(hyp.shape[0], ref.shape[0])
            pair = [torch.nn.functional.pad(x, [0, size - x.shape[0]])[None] for x in (hyp, ref)]
            self._append([utt_id], pair[0], pair[1], None)

    def _append(
        self, ids: List[str], hyp_sig: Tensor, ref_sig: Tensor, lens: Optional[Tensor]
    ) -> None:
        for name, metric in self.metrics.items():
            if name in _WITHOUT_REFERENCE:
                metric.append(ids, hyp_sig, lens)
            else:
                metric.append(ids, hyp_sig, ref_sig, lens)

    def summarize(self) -> Dict[str, float]:
        """Averages (dWER: corpus word error rate, %) of the available metrics.

        Returns
        -------
        summary : dict
            ``UTMOS``, ``DNSMOS``, ``dWER``, ``SpkSim`` (those available).
        """
        summary = {}
        for name, metric in self.metrics.items():
            field = "error_rate" if name == "dwer" else "average"
            summary[_NAMES[name]] = float(metric.summarize(field))
        return summary


def save_signals(
    folder: Union[str, Path], ids: List[str], sig: Tensor, lens: Tensor, sample_rate: int
) -> None:
    """Writes each signal of a padded batch to ``<folder>/<id>.wav`` (see
    ``audio_files.write_audio_file``: 16-bit PCM, each file whole or not at all).

    Arguments
    ---------
    folder : str or Path
        Output folder (created if needed).
    ids : list of str
        File names.
    sig : torch.Tensor
        ``[batch, samples]``.
    lens : torch.Tensor
        Relative lengths.
    sample_rate : int
        Rate of the signals.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts = lens_to_counts(lens, sig.shape[1]).tolist()
    for utt_id, item, count in zip(ids, sig, counts):
        write_audio_file(folder / f"{utt_id}.wav", item[:count], sample_rate)


@torch.no_grad()
def decode_tokens(
    codec: FocalCodec, toks: Tensor, lens: Tensor, num_samples: Optional[int] = None
) -> Tensor:
    """Decodes tokens into waveforms at the codec's input rate, ``num_samples`` long.

    The codec decodes ``tokens * samples_per_token`` samples; the output is
    resampled to the input rate (that of the references) and cut or padded
    with zeros to ``num_samples``, so that it lines up with the references.

    Arguments
    ---------
    codec : FocalCodec
        The codec.
    toks : torch.Tensor
        Tokens ``[batch, tokens]``.
    lens : torch.Tensor
        Their relative lengths.
    num_samples : int, optional
        Length of the output (that of the padded references); default: the
        decoded length, resampled.

    Returns
    -------
    sig : torch.Tensor
        ``[batch, num_samples]``.

    Example
    -------
    >>> codec = FocalCodec.from_pretrained("tests/golden/tiny_50hz")
    >>> decode_tokens(codec, torch.zeros(2, 5, dtype=torch.long), torch.ones(2), 1700).shape
    torch.Size([2, 1700])
    """
    codec = codec.to(toks.device)
    sig = codec.toks_to_sig(toks, lens)
    sig = resample(sig, codec.sample_rate_output, codec.sample_rate_input)
    if num_samples is None:
        return sig
    if sig.shape[1] >= num_samples:
        return sig[:, :num_samples]
    return torch.nn.functional.pad(sig, [0, num_samples - sig.shape[1]])
