"""Stage ``wavenext`` of FocalCodec-Stream: a causal WaveNeXt decoder at 24 kHz.

The decoder learns, as a GAN (``DecoderBrain``: HiFi-GAN multi-period and
multi-scale discriminators, hinge loss, feature matching, log-mel L1), to
resynthesize 24 kHz speech from the features of the frozen full-context
WavLM-6, which reads 16 kHz audio. Utterances are loaded at the decoder's
rate (``sample_rate``: 24000) and resampled to the encoder's rate
(``encoder_sample_rate``: 16000) before encoding; one 20 ms feature frame is
``hop_length`` = 480 samples at 24 kHz, so features and waveform segments
stay aligned. Resampling a zero-padded batch gives each utterance what it
gets alone (the resampling filter sees zeros past its end either way).

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Tuple

import torchaudio
from torch import Tensor

from speechbrain_focalcodec.training.decoder_brain import DecoderBrain

__all__ = ["WaveNeXtBrain"]


class WaveNeXtBrain(DecoderBrain):
    """``DecoderBrain`` whose audio is at the decoder's rate, not the encoder's.

    Hyperparameters used besides ``DecoderBrain``'s: ``encoder_sample_rate``.
    """

    def encode(self, ids: List[str], sig: Tensor, lens: Tensor) -> Tuple[Tensor, Tensor]:
        """Features of the frozen encoder for waveforms at ``sample_rate``.

        Arguments
        ---------
        ids : list of str
            Utterance ids.
        sig : torch.Tensor
            Waveforms at ``sample_rate`` (24 kHz), ``[batch, samples]``.
        lens : torch.Tensor
            Relative lengths.

        Returns
        -------
        feats : torch.Tensor
            ``[batch, frames, dim]``.
        feats_lens : torch.Tensor
            Their relative lengths.
        """
        rate, encoder_rate = self.hparams.sample_rate, self.hparams.encoder_sample_rate
        if rate != encoder_rate:
            sig = torchaudio.functional.resample(sig, rate, encoder_rate)
        return super().encode(ids, sig, lens)
