"""SpeechBrain inference interface for pretrained FocalCodec models.

A model directory (local or on the Hugging Face Hub) follows SpeechBrain's
convention: a ``hyperparams.yaml`` that builds the codec (key ``codec``), a
``modules`` dict and a ``pretrainer``. With ``FocalCodecPretrainer`` the
weights are ``model.safetensors`` next to the yaml, or in another directory
or repository named by the yaml (the ``hparams/*.yaml`` of this package point
at the official repositories this way).

A ``hyperparams.yaml`` is code: HyperPyYAML builds whatever objects it names
(SpeechBrain's design), so call ``from_hparams`` only on sources you trust.
``FocalCodec.from_pretrained`` reads only ``config.json`` (validated data) and
tensors, and is the safe way to load a checkpoint of unknown origin.

Downloads go through ``huggingface_hub`` (``HF_ENDPOINT``, ``HF_HUB_OFFLINE``);
a failure is a one-line ``CheckpointError``. With a ``savedir``, the files
collected there remember where they came from: a ``savedir`` used before for
another source or another yaml is refreshed, not silently reused.

Authors
 * speechbrain-focalcodec developers 2026
"""

import logging
from pathlib import Path
from typing import Any, Optional, Union

import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.parameter_transfer import Pretrainer
from torch import Tensor

from speechbrain_focalcodec import hub
from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.checkpoints import CheckpointError, is_hub_id
from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.files import atomic_write_text

__all__ = ["FocalCodecInterface", "FocalCodecPretrainer"]

logger = logging.getLogger(__name__)


def _origin_record(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.source")


def _drop_stale(destination: Path, origin: str) -> None:
    """Removes a file collected in a ``savedir`` from another origin (or an unknown one).

    SpeechBrain's ``fetch`` reuses whatever ``savedir`` holds under the same
    name; this makes it fetch again when the origin changed.
    """
    record = _origin_record(destination)
    present = destination.exists() or destination.is_symlink()
    recorded = record.read_text(encoding="utf-8") if record.is_file() else None
    if present and recorded != origin:
        logger.info("Refreshing %s (collected from %s, now %s)", destination, recorded, origin)
        destination.unlink()


def _record_origin(destination: Path, origin: str) -> None:
    if destination.exists():
        atomic_write_text(_origin_record(destination), origin)


class FocalCodecPretrainer(Pretrainer):
    """Fetches and loads the weights of a ``FocalCodec`` for ``from_hparams``.

    Arguments
    ---------
    codec : FocalCodec
        The codec built by the yaml.
    source : str, optional
        Hugging Face repository id or local directory holding the weights;
        None means the ``source`` given to ``from_hparams``.
    filename : str
        Name of the weights file (safetensors or weights-only torch file, in
        either official key layout).
    collect_in : str or Path, optional
        Where to collect (link or copy) the fetched file; ``from_hparams``
        sets it to its ``savedir``.
    """

    def __init__(
        self,
        codec: FocalCodec,
        source: Optional[str] = None,
        filename: str = "model.safetensors",
        collect_in: Optional[Union[str, Path]] = None,
    ) -> None:
        super().__init__(collect_in=collect_in, loadables={"codec": codec})
        self.source = source
        self.filename = filename

    def collect_files(self, default_source: Optional[Any] = None, **kwargs: Any) -> dict:
        """Fetches the weights from ``source`` (or ``default_source``).

        Arguments
        ---------
        default_source : str or Path, optional
            The ``source`` of ``from_hparams``.
        **kwargs : dict
            Forwarded to ``Pretrainer.collect_files``.

        Returns
        -------
        paths : dict
            Local path of the weights, under key ``codec``.
        """
        source = self.source if self.source is not None else default_source
        if source is None:
            raise CheckpointError("FocalCodecPretrainer needs a `source` for the weights")
        origin = f"{str(source).rstrip('/')}/{self.filename}"
        self.paths.setdefault("codec", origin)
        destination = None
        if self.collect_in is not None:
            destination = Path(self.collect_in) / "codec.ckpt"
            _drop_stale(destination, origin)
        try:
            paths = super().collect_files(default_source=default_source, **kwargs)
        except Exception as error:
            if hub.is_download_failure(error):
                reason = hub.translate(error, str(source), self.filename)
                raise CheckpointError(
                    f"Cannot get the codec weights: {reason} (with from_hparams: "
                    "overrides={'weights_source': '<directory with model.safetensors>'})"
                ) from None
            if isinstance(error, (OSError, ValueError)):
                raise CheckpointError(f"Cannot get the codec weights {origin}: {error}") from None
            raise
        if destination is not None:
            _record_origin(destination, origin)
        return paths


def _check_source(source: Union[str, Path], hparams_file: str) -> None:
    """One-line errors for a ``from_hparams`` source that cannot hold ``hparams_file``.

    A local folder must hold the yaml (an official-layout folder has only
    ``config.json`` and the weights); anything else must look like a Hugging
    Face repository id (or a URL), not a path to a missing folder or a file.
    """
    local = Path(source)
    if local.is_dir():
        if not (local / hparams_file).is_file():
            raise CheckpointError(
                f"No {hparams_file} in {local}: load a folder of config.json and "
                f"model.safetensors with FocalCodec.from_pretrained('{local}'), whose "
                "save_pretrained(<folder>) also writes hyperparams.yaml"
            )
    elif "://" not in str(source) and not is_hub_id(str(source)):
        raise CheckpointError(
            f"'{source}' is neither a local folder nor a Hugging Face repository id"
        )


class FocalCodecInterface(Pretrained):
    """Ready-to-use FocalCodec: waveforms to tokens and back.

    Arguments
    ---------
    *args : tuple
    **kwargs : dict
        Forwarded to ``speechbrain.inference.interfaces.Pretrained``.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> model_dir = getfixture("tmpdir") / "tiny_codec"
    >>> tiny_codec("50hz").save_pretrained(model_dir)  # a tiny random codec
    >>> codec = FocalCodecInterface.from_hparams(
    ...     source=str(model_dir), savedir=str(getfixture("tmpdir") / "savedir")
    ... )
    >>> wavs, wav_lens = torch.randn(2, 16000), torch.tensor([1.0, 0.5])
    >>> toks = codec.encode_batch(wavs, wav_lens)
    >>> toks.shape
    torch.Size([2, 49])
    >>> codec.decode_batch(toks, codec.toks_lens(wav_lens, wavs.shape[1])).shape
    torch.Size([2, 15680])
    """

    MODULES_NEEDED = ["codec"]

    @classmethod
    def from_hparams(
        cls, source: str, hparams_file: str = "hyperparams.yaml", **kwargs: Any
    ) -> "FocalCodecInterface":
        """Builds the codec of ``<source>/<hparams_file>`` and loads its weights.

        SpeechBrain's ``Pretrained.from_hparams`` with one-line
        ``CheckpointError`` messages for failed downloads (not found, server
        error, offline) and a ``savedir`` that never serves files collected
        for another source. The yaml is code: use trusted sources only.

        Arguments
        ---------
        source : str
            Local directory or Hugging Face repository id.
        hparams_file : str
            The yaml in ``source``.
        **kwargs : dict
            Forwarded (``savedir``, ``run_opts``, ``overrides``...).

        Returns
        -------
        interface : FocalCodecInterface
        """
        _check_source(source, hparams_file)
        savedir = kwargs.get("savedir")
        if savedir is not None:
            origin = f"{str(source).rstrip('/')}/{hparams_file}"
            destination = Path(savedir) / hparams_file
            _drop_stale(destination, origin)
        try:
            interface = super().from_hparams(source, hparams_file=hparams_file, **kwargs)
        except CheckpointError:
            raise
        except Exception as error:
            if not hub.is_download_failure(error):
                raise
            raise CheckpointError(
                f"Cannot get {hparams_file}: {hub.translate(error, str(source), hparams_file)}"
            ) from None
        if savedir is not None:
            _record_origin(destination, origin)
        return interface

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.codec: FocalCodec = self.mods.codec

    @property
    def sample_rate(self) -> int:
        """Rate of the input waveforms (Hz)."""
        return self.codec.sample_rate_input

    @property
    def sample_rate_output(self) -> int:
        """Rate of the decoded waveforms (Hz)."""
        return self.codec.sample_rate_output

    def toks_lens(self, wav_lens: Tensor, num_samples: int) -> Tensor:
        """Relative lengths of the tokens that ``encode_batch`` returns.

        Arguments
        ---------
        wav_lens : torch.Tensor
            Relative lengths of the waveforms, shape ``[batch]``.
        num_samples : int
            Padded length of the waveforms.

        Returns
        -------
        toks_lens : torch.Tensor
            Relative lengths of the tokens, to pass to ``decode_batch``.
        """
        return self.codec.toks_lens(wav_lens.to(self.device), num_samples)

    @torch.no_grad()
    def encode_batch(self, wavs: Tensor, wav_lens: Optional[Tensor] = None) -> Tensor:
        """Encodes a batch of waveforms into tokens.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms at ``sample_rate``, shape ``[batch, samples]``.
        wav_lens : torch.Tensor, optional
            Relative lengths, shape ``[batch]``.

        Returns
        -------
        toks : torch.Tensor
            Tokens, shape ``[batch, tokens]`` (int64); their relative lengths
            are ``toks_lens(wav_lens, samples)``.
        """
        wavs = wavs.to(self.device)
        wav_lens = None if wav_lens is None else wav_lens.to(self.device)
        return self.codec.sig_to_toks(wavs, wav_lens)

    @torch.no_grad()
    def decode_batch(self, toks: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Decodes a batch of tokens into waveforms.

        Arguments
        ---------
        toks : torch.Tensor
            Tokens, shape ``[batch, tokens]``.
        lens : torch.Tensor, optional
            Relative lengths of the tokens, shape ``[batch]``.

        Returns
        -------
        wavs : torch.Tensor
            Waveforms at ``sample_rate_output``, shape ``[batch, samples]``,
            zero past each item's end; their relative lengths are ``lens``.
        """
        toks = toks.to(self.device)
        lens = None if lens is None else lens.to(self.device)
        return self.codec.toks_to_sig(toks, lens)

    @torch.no_grad()
    def encode_file(self, path: Union[str, Path]) -> Tensor:
        """Encodes an audio file of any sample rate and channel count.

        Arguments
        ---------
        path : str or Path
            Audio file (channels are averaged, the rate is converted).

        Returns
        -------
        toks : torch.Tensor
            Tokens, shape ``[1, tokens]``.
        """
        sig = load_audio(path, self.sample_rate)
        return self.encode_batch(sig[None])

    @torch.no_grad()
    def forward(self, wavs: Tensor, wav_lens: Optional[Tensor] = None) -> Tensor:
        """Reconstructs a batch of waveforms (encode then decode).

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms at ``sample_rate``, shape ``[batch, samples]``.
        wav_lens : torch.Tensor, optional
            Relative lengths, shape ``[batch]``.

        Returns
        -------
        wavs : torch.Tensor
            Reconstructions at ``sample_rate_output`` with the input durations.
        """
        wavs = wavs.to(self.device)
        wav_lens = None if wav_lens is None else wav_lens.to(self.device)
        return self.codec.sig_to_sig(wavs, wav_lens)
