"""FocalCodec: the complete codec, composed of its five lobes.

Naming of the representations (shapes for a batch ``B``):

* ``sig``: waveform ``[B, samples]`` (16 kHz in, 16 or 24 kHz out);
* ``feats``: WavLM features ``[B, frames, dim]`` (50 Hz);
* ``lats``: unit-norm latents ``[B, tokens, D]``;
* ``codes``: quantized latents, ``+-1/sqrt(D)``, ``[B, tokens, D]``;
* ``toks``: integer tokens in ``[0, 2^D)``, ``[B, tokens]``;
* ``qfeats``: features decoded from codes ``[B, frames, dim]``;
* ``lens``: SpeechBrain relative lengths ``[B]``.

Every transform ``<input>_to_<output>`` accepts ``lens`` for padded batches:
frames past an item's length never influence its valid frames, so each item
of a batch gets exactly what it would get alone, and outputs are zero (token
0 for ``toks``) past each item's end.

User inputs are validated here, once, with clear errors; the lobes read no
tensor value on the host, so the transforms (``lens`` included) compile with
``torch.compile(..., fullgraph=True)``. Compiled, the checks of values (finite
waveforms, ``lens`` in ``(0, 1]``, tokens in range) run on the device
(``torch._assert_async``, a ``RuntimeError`` on CPU).

Authors
 * speechbrain-focalcodec developers 2026
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, Union

import torch
from speechbrain.utils.checkpoints import mark_as_transfer, register_checkpoint_hooks
from torch import Tensor, nn

from speechbrain_focalcodec import checkpoints
from speechbrain_focalcodec.codec_config import build_components, codec_config, hparams_yaml
from speechbrain_focalcodec.lobes.bsq import BinarySphericalQuantizer
from speechbrain_focalcodec.lobes.compressor import FocalCompressor
from speechbrain_focalcodec.lobes.decompressor import FocalDecompressor
from speechbrain_focalcodec.lobes.vocos import Vocos
from speechbrain_focalcodec.lobes.wavenext import WaveNeXt
from speechbrain_focalcodec.lobes.wavlm import WavLM
from speechbrain_focalcodec.long_audio import encode_batch_long, is_long
from speechbrain_focalcodec.ops.capability import tracing
from speechbrain_focalcodec.ops.padding import (
    check_lens,
    lens_to_counts,
    padding_mask,
)
from speechbrain_focalcodec.voice_conversion import knn_convert

if TYPE_CHECKING:  # pragma: no cover
    from speechbrain_focalcodec.streaming import StreamDecoder, StreamEncoder

__all__ = ["FocalCodec"]


@register_checkpoint_hooks
class FocalCodec(nn.Module):
    """Low-bitrate single-codebook speech codec.

    Arguments
    ---------
    encoder : WavLM
        Waveform -> features.
    compressor : FocalCompressor
        Features -> latents.
    quantizer : BinarySphericalQuantizer
        Latents -> codes and tokens.
    decompressor : FocalDecompressor
        Codes -> features.
    decoder : Vocos or WaveNeXt
        Features -> waveform.

    Example
    -------
    >>> from speechbrain_focalcodec.lobes import (
    ...     BinarySphericalQuantizer, FocalCompressor, FocalDecompressor, Vocos, WavLM)
    >>> codec = FocalCodec(
    ...     encoder=WavLM(
    ...         [16] * 7, num_layers=1, dim=32, ffn_dim=64, num_heads=4, conv_pos=8,
    ...         conv_pos_groups=4,
    ...     ),
    ...     compressor=FocalCompressor(32, 8, [16], downscale_factors=[1], focal_window=3),
    ...     quantizer=BinarySphericalQuantizer(codebook_size=256),
    ...     decompressor=FocalDecompressor(8, 32, [16], upscale_factors=[1], focal_window=3),
    ...     decoder=Vocos(input_dim=32, num_layers=1, dim=16, ffn_dim=32),
    ... ).eval()
    >>> codec.token_rate, codec.codebook_size, codec.bitrate
    (50.0, 256, 400.0)
    >>> sig = torch.randn(2, 16000)
    >>> lens = torch.tensor([1.0, 0.5])
    >>> toks = codec.sig_to_toks(sig, lens)
    >>> toks.shape, codec.toks_lens(lens, sig.shape[1])
    (torch.Size([2, 49]), tensor([1.0000, 0.4898]))
    >>> codec.toks_to_sig(toks, codec.toks_lens(lens, sig.shape[1])).shape
    torch.Size([2, 15680])
    >>> codec.sig_to_sig(sig, lens).shape
    torch.Size([2, 16000])
    """

    #: Longest input (seconds) that ``sig_to_toks`` / ``sig_to_codes`` encode whole;
    #: longer ones go through ``long_audio.encode_batch_long`` (None: never).
    max_whole_seconds: Optional[float] = 60.0

    def __init__(
        self,
        encoder: WavLM,
        compressor: FocalCompressor,
        quantizer: BinarySphericalQuantizer,
        decompressor: FocalDecompressor,
        decoder: Union[Vocos, WaveNeXt],
    ) -> None:
        super().__init__()
        code_dim = quantizer.code_dim
        links = [
            ("encoder.dim", encoder.dim, "compressor.input_dim", compressor.input_dim),
            ("compressor.output_dim", compressor.output_dim, "quantizer code dim", code_dim),
            ("quantizer code dim", code_dim, "decompressor.input_dim", decompressor.input_dim),
            (
                "decompressor.output_dim",
                decompressor.output_dim,
                "decoder.input_dim",
                decoder.input_dim,
            ),
        ]
        for name_a, value_a, name_b, value_b in links:
            if value_a != value_b:
                raise ValueError(
                    f"Incompatible components: {name_a} = {value_a} but {name_b} = {value_b}"
                )
        self.encoder = encoder
        self.compressor = compressor
        self.quantizer = quantizer
        self.decompressor = decompressor
        self.decoder = decoder

    # ------------------------------------------------------------------ info
    @property
    def sample_rate_input(self) -> int:
        """Sample rate of the input waveform (Hz)."""
        return self.encoder.sample_rate

    @property
    def sample_rate_output(self) -> int:
        """Sample rate of the reconstructed waveform (Hz)."""
        samples_out = self.decompressor.upsample_factor * self.decoder.upsample_factor
        return int(self.sample_rate_input * samples_out / self.samples_per_token)

    @property
    def samples_per_token(self) -> int:
        """Input samples per token."""
        return self.encoder.downsample_factor * self.compressor.downsample_factor

    @property
    def token_rate(self) -> float:
        """Tokens per second."""
        return self.sample_rate_input / self.samples_per_token

    @property
    def codebook_size(self) -> int:
        """Number of distinct tokens (``2^D``)."""
        return self.quantizer.codebook_size

    @property
    def code_dim(self) -> int:
        """Bits per token, ``D``."""
        return self.quantizer.code_dim

    @property
    def bitrate(self) -> float:
        """Bits per second."""
        return self.token_rate * self.code_dim

    @property
    def causal(self) -> bool:
        """Whether every component is causal (streamable)."""
        parts = (self.encoder, self.compressor, self.decompressor, self.decoder)
        return all(part.causal for part in parts)

    @property
    def chunk_size(self) -> int:
        """Input samples per streaming chunk (one frame plus the lookahead, in
        samples; ``chunk_size`` means samples everywhere in the package, frame
        counts are ``chunk_frames``)."""
        return self.encoder.chunk_size

    @property
    def latency(self) -> Optional[float]:
        """Algorithmic latency in milliseconds of a causal codec, else None."""
        if not self.causal:
            return None
        return 1000.0 * self.chunk_size / self.sample_rate_input

    @property
    def codebook(self) -> Tensor:
        """All codes, ``[codebook_size, D]``; row ``t`` is the code of token ``t``."""
        return self.quantizer.codes

    def toks_lens(self, lens: Tensor, num_samples: int) -> Tensor:
        """Relative lengths of the tokens of a padded batch of waveforms.

        Arguments
        ---------
        lens : torch.Tensor
            Relative lengths of the waveforms, shape ``[B]``.
        num_samples : int
            Padded length of the waveforms.

        Returns
        -------
        lens : torch.Tensor
            Relative lengths of ``sig_to_toks(sig, lens)`` (and of its codes,
            latents and decoded waveform), exact for the token transforms.
        """
        counts, full = self._counts(lens, num_samples)
        counts = self.compressor.num_output_frames(self.encoder.num_output_frames(counts))
        full = self.compressor.num_output_frames(self.encoder.num_output_frames(full))
        return counts.float() / full.float()

    def feats_lens(self, lens: Tensor, num_samples: int) -> Tensor:
        """Relative lengths of the features of a padded batch of waveforms.

        Arguments
        ---------
        lens : torch.Tensor
            Relative lengths of the waveforms, shape ``[B]``.
        num_samples : int
            Padded length of the waveforms.

        Returns
        -------
        lens : torch.Tensor
            Relative lengths of ``sig_to_feats(sig, lens)``.
        """
        counts, full = self._counts(lens, num_samples)
        return (
            self.encoder.num_output_frames(counts).float()
            / self.encoder.num_output_frames(full).float()
        )

    @staticmethod
    def _counts(lens: Tensor, num_samples: int) -> Tuple[Tensor, Tensor]:
        return lens_to_counts(lens, num_samples), torch.tensor([num_samples], device=lens.device)

    # ------------------------------------------------------------ validation
    def _check_sig(self, sig: Tensor, lens: Optional[Tensor]) -> Tensor:
        if not isinstance(sig, Tensor):
            raise TypeError(f"`sig` must be a torch.Tensor, got {type(sig).__name__}")
        if sig.ndim != 2:
            raise ValueError(
                f"`sig` must have shape [batch, samples], got {list(sig.shape)} "
                "(mix multichannel audio down to mono first)"
            )
        if not sig.is_floating_point():
            raise TypeError(f"`sig` must be a floating point waveform in [-1, 1], got {sig.dtype}")
        if sig.shape[0] == 0 or sig.shape[1] == 0:
            raise ValueError(f"`sig` is empty: shape {list(sig.shape)}")
        finite = torch.isfinite(sig).all()
        if tracing():  # compiled: checked on the device, no host read
            torch._assert_async(finite, "`sig` contains NaN or infinite values")
        elif not bool(finite):
            raise ValueError("`sig` contains NaN or infinite values")
        check_lens(lens, sig.shape[0])
        return sig.to(self._dtype)

    def _check_features(self, x: Tensor, name: str, dim: int, lens: Optional[Tensor]) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 3 or x.shape[-1] != dim:
            raise ValueError(f"`{name}` must have shape [batch, time, {dim}], got {list(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"`{name}` must be floating point, got {x.dtype}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"`{name}` is empty: shape {list(x.shape)}")
        check_lens(lens, x.shape[0])
        return x.to(self._dtype)

    def _check_toks(self, toks: Tensor, lens: Optional[Tensor]) -> Tensor:
        if not isinstance(toks, Tensor):
            raise TypeError(f"`toks` must be a torch.Tensor, got {type(toks).__name__}")
        if toks.ndim != 2:
            raise ValueError(f"`toks` must have shape [batch, tokens], got {list(toks.shape)}")
        if toks.is_floating_point() or toks.is_complex() or toks.dtype == torch.bool:
            raise TypeError(f"`toks` must be an integer tensor, got {toks.dtype}")
        if toks.shape[0] == 0 or toks.shape[1] == 0:
            raise ValueError(f"`toks` is empty: shape {list(toks.shape)}")
        toks = toks.long()  # any integer dtype (token files store uint16)
        if tracing():  # compiled: checked on the device, no host read
            valid = ((toks >= 0) & (toks < self.codebook_size)).all()
            torch._assert_async(valid, f"`toks` must lie in [0, {self.codebook_size})")
            check_lens(lens, toks.shape[0])
            return toks
        low, high = toks.min().item(), toks.max().item()
        if low < 0 or high >= self.codebook_size:
            raise ValueError(
                f"`toks` must lie in [0, {self.codebook_size}) for this codec, "
                f"got values in [{low}, {high}]"
            )
        check_lens(lens, toks.shape[0])
        return toks

    @property
    def _dtype(self) -> torch.dtype:
        # Activation precision: a normalization weight, which the fast mode
        # (bfloat16 linear layers only, see fast_mode.py) leaves in float32.
        return self.encoder.norm.weight.dtype

    # ------------------------------------------------------------- stages
    def _encode(self, sig: Tensor, lens: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        feats, feats_lens = self.encoder(sig, lens)
        return feats, None if lens is None else feats_lens

    def _compress(self, feats: Tensor, lens: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        lats, lats_lens = self.compressor(feats, lens)
        lats = nn.functional.normalize(lats, dim=-1)
        return lats, None if lens is None else lats_lens

    def _decompress(self, codes: Tensor, lens: Optional[Tensor]) -> Tensor:
        return self.decompressor(codes, lens)[0]

    def _decode(self, feats: Tensor, lens: Optional[Tensor]) -> Tensor:
        return self.decoder(feats, lens)[0]

    # --------------------------------------------------------- sig -> any
    def sig_to_feats(self, sig: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Waveform -> encoder features.

        Arguments
        ---------
        sig : torch.Tensor
            Waveforms at ``sample_rate_input``, ``[B, samples]``.
        lens : torch.Tensor, optional
            Relative lengths ``[B]`` (None: every item is full length).

        Returns
        -------
        feats : torch.Tensor
            ``[B, frames, dim]``; relative lengths ``feats_lens(lens, samples)``.
        """
        return self._encode(self._check_sig(sig, lens), lens)[0]

    def sig_to_lats(self, sig: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Waveform ``[B, samples]`` -> latents ``[B, tokens, D]``."""
        return self._compress(*self._encode(self._check_sig(sig, lens), lens))[0]

    def sig_to_toks(self, sig: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Waveform -> tokens.

        Arguments
        ---------
        sig : torch.Tensor
            Waveforms at ``sample_rate_input``, ``[B, samples]``.
        lens : torch.Tensor, optional
            Relative lengths ``[B]`` (None: every item is full length).

        Returns
        -------
        toks : torch.Tensor
            ``[B, tokens]`` int64 in ``[0, codebook_size)``, token 0 past each
            item's end; relative lengths ``toks_lens(lens, samples)``.

        Inputs longer than ``max_whole_seconds`` (default 60 s; attention makes
        the whole-input cost quadratic) are tokenized item by item in 20 s
        segments with 5 s of context (``long_audio.encode_batch_long``), in
        constant memory; set ``codec.max_whole_seconds = None`` to always
        encode whole.
        """
        if is_long(self, sig):  # constant memory (see ``max_whole_seconds``)
            return encode_batch_long(self, sig, lens)
        return self.quantizer.lats_to_toks(self.sig_to_lats(sig, lens))

    def sig_to_codes(self, sig: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Waveform ``[B, samples]`` -> codes ``[B, tokens, D]`` (long inputs: see
        ``max_whole_seconds``)."""
        if is_long(self, sig):
            return self.toks_to_codes(encode_batch_long(self, sig, lens))
        return self.quantizer.lats_to_codes(self.sig_to_lats(sig, lens))

    def sig_to_qfeats(self, sig: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Waveform ``[B, samples]`` -> decompressed features ``[B, frames, dim]``."""
        lats, lats_lens = self._compress(*self._encode(self._check_sig(sig, lens), lens))
        return self._decompress(self.quantizer.lats_to_codes(lats), lats_lens)

    def sig_to_sig(self, sig: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Waveform ``[B, samples]`` -> reconstruction at the output rate.

        Each item is cut (or extended by repeating its last sample) to its
        input duration: ``int(samples * sample_rate_output / sample_rate_input)``.
        """
        return self.forward(sig, lens)[2]

    def forward(self, sig: Tensor, lens: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """Encodes and decodes a batch of waveforms.

        Arguments
        ---------
        sig : torch.Tensor
            Waveforms at ``sample_rate_input``, shape ``[B, samples]``.
        lens : torch.Tensor, optional
            Relative lengths, shape ``[B]``.

        Returns
        -------
        toks : torch.Tensor
            Tokens, ``[B, tokens]``.
        codes : torch.Tensor
            Codes, ``[B, tokens, D]``.
        rec_sig : torch.Tensor
            Reconstruction at ``sample_rate_output`` with the input's duration.
        """
        sig = self._check_sig(sig, lens)
        lats, lats_lens = self._compress(*self._encode(sig, lens))
        codes = self.quantizer.lats_to_codes(lats)
        rec_sig = self._decode(self._decompress(codes, lats_lens), lats_lens)
        ratio = self.sample_rate_output / self.sample_rate_input
        rec_sig = _fit_length(rec_sig, lats_lens, sig.shape[1], lens, ratio)
        return self.quantizer.lats_to_toks(lats), codes, rec_sig

    # ------------------------------------------------------- feats -> any
    def feats_to_lats(self, feats: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Encoder features ``[B, frames, dim]`` -> latents ``[B, tokens, D]``."""
        feats = self._check_features(feats, "feats", self.encoder.dim, lens)
        return self._compress(feats, lens)[0]

    def feats_to_toks(self, feats: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Encoder features -> tokens ``[B, tokens]``."""
        return self.quantizer.lats_to_toks(self.feats_to_lats(feats, lens))

    def feats_to_codes(self, feats: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Encoder features -> codes ``[B, tokens, D]``."""
        return self.quantizer.lats_to_codes(self.feats_to_lats(feats, lens))

    def feats_to_qfeats(self, feats: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Encoder features -> decompressed features (through the quantizer)."""
        feats = self._check_features(feats, "feats", self.encoder.dim, lens)
        lats, lats_lens = self._compress(feats, lens)
        return self._decompress(self.quantizer.lats_to_codes(lats), lats_lens)

    def feats_to_sig(
        self,
        feats: Tensor,
        lens: Optional[Tensor] = None,
        *,
        matching_set: Optional[Tensor] = None,
        topk: int = 4,
        num_splits: int = 1,
    ) -> Tensor:
        """Features ``[B, frames, dim]`` (encoder or decompressed) -> waveform.

        Decoding continuous encoder features skips the quantizer (the
        decoder's training condition). The output has ``frames * hop``
        samples per item. With ``matching_set``, the official kNN voice
        conversion is applied first (``voice_conversion.knn_convert``; the
        ``voice_conversion`` module has the fuller API).
        """
        feats = self._check_features(feats, "feats", self.decoder.input_dim, lens)
        return self._decode(knn_convert(feats, matching_set, topk, num_splits), lens)

    # -------------------------------------------------------- lats -> any
    def lats_to_toks(self, lats: Tensor) -> Tensor:
        """Latents ``[B, tokens, D]`` -> tokens ``[B, tokens]``."""
        return self.quantizer.lats_to_toks(lats)

    def lats_to_codes(self, lats: Tensor) -> Tensor:
        """Latents ``[B, tokens, D]`` -> codes ``[B, tokens, D]``."""
        return self.quantizer.lats_to_codes(lats)

    def lats_to_qfeats(self, lats: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Latents ``[B, tokens, D]`` -> decompressed features."""
        lats = self._check_features(lats, "lats", self.code_dim, lens)
        return self._decompress(self.quantizer.lats_to_codes(lats), lens)

    # -------------------------------------------------------- toks -> any
    def toks_to_codes(self, toks: Tensor) -> Tensor:
        """Tokens ``[B, tokens]`` -> codes ``[B, tokens, D]``."""
        return self.quantizer.toks_to_codes(self._check_toks(toks, None)).to(self._dtype)

    def toks_to_qfeats(self, toks: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Tokens ``[B, tokens]`` -> decompressed features ``[B, frames, dim]``."""
        codes = self.quantizer.toks_to_codes(self._check_toks(toks, lens)).to(self._dtype)
        return self._decompress(codes, lens)

    def toks_to_sig(
        self,
        toks: Tensor,
        lens: Optional[Tensor] = None,
        *,
        matching_set: Optional[Tensor] = None,
        topk: int = 4,
        num_splits: int = 1,
    ) -> Tensor:
        """Tokens -> waveform.

        Arguments
        ---------
        toks : torch.Tensor
            ``[B, tokens]`` integers in ``[0, codebook_size)``.
        lens : torch.Tensor, optional
            Relative lengths of the tokens ``[B]`` (see ``toks_lens``).
        matching_set : torch.Tensor, optional
            Official kNN voice conversion: target-speaker features
            ``[num_points, dim]``; each decompressed frame is replaced by the
            mean of its ``topk`` nearest neighbours (cosine), searched in
            ``num_splits`` parts (``voice_conversion.knn_convert``).
        topk : int
            Neighbours averaged per frame.
        num_splits : int
            Parts of the matching set searched one at a time (memory).

        Returns
        -------
        sig : torch.Tensor
            ``[B, tokens * samples_per_token]`` at ``sample_rate_output``, with
            the tokens' relative lengths (zeros past each item's end).
        """
        qfeats = self.toks_to_qfeats(toks, lens)
        return self._decode(knn_convert(qfeats, matching_set, topk, num_splits), lens)

    # ------------------------------------------------------- codes -> any
    def codes_to_toks(self, codes: Tensor) -> Tensor:
        """Codes ``[B, tokens, D]`` -> tokens ``[B, tokens]``."""
        return self.quantizer.codes_to_toks(codes)

    def codes_to_qfeats(self, codes: Tensor, lens: Optional[Tensor] = None) -> Tensor:
        """Codes ``[B, tokens, D]`` -> decompressed features."""
        codes = self._check_features(codes, "codes", self.code_dim, lens)
        return self._decompress(codes, lens)

    def codes_to_sig(
        self,
        codes: Tensor,
        lens: Optional[Tensor] = None,
        *,
        matching_set: Optional[Tensor] = None,
        topk: int = 4,
        num_splits: int = 1,
    ) -> Tensor:
        """Codes ``[B, tokens, D]`` -> waveform at ``sample_rate_output`` (with
        ``matching_set``: kNN voice conversion, as ``toks_to_sig``)."""
        qfeats = self.codes_to_qfeats(codes, lens)
        return self._decode(knn_convert(qfeats, matching_set, topk, num_splits), lens)

    # --------------------------------------------------------- streaming
    def stream_encoder(self, batch_size: int = 1, warmup: bool = False) -> "StreamEncoder":
        """Stateful encoder of ``batch_size`` streams (causal codecs only).

        See ``speechbrain_focalcodec.streaming.StreamEncoder``: ``enc(chunk)``
        maps ``[batch_size, k * chunk_size]`` samples to ``[batch_size, k * 4]``
        tokens, ``enc.flush(tail)`` ends the streams, ``enc.reset()`` restarts
        them (``enc.reset(slots)`` only some); ``warmup=True`` runs
        ``enc.warmup()`` so that the first chunk is not late.
        """
        from speechbrain_focalcodec.streaming import StreamEncoder

        return StreamEncoder(self, batch_size, warmup)

    def stream_decoder(
        self,
        batch_size: int = 1,
        converter: Optional[Callable[[Tensor], Tensor]] = None,
        warmup: bool = False,
    ) -> "StreamDecoder":
        """Stateful decoder of ``batch_size`` streams (causal codecs only).

        See ``speechbrain_focalcodec.streaming.StreamDecoder``: ``dec(toks)``
        maps ``[batch_size, k * 4]`` tokens to waveform chunks; ``converter``
        (e.g. a ``KNNVoiceConverter``) transforms the decompressed features;
        ``warmup`` as for ``stream_encoder``.
        """
        from speechbrain_focalcodec.streaming import StreamDecoder

        return StreamDecoder(self, batch_size, converter, warmup)

    # ----------------------------------------------------------- loading
    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "FocalCodec":
        """Builds a randomly initialized codec from an official ``config.json`` dict.

        The config is validated completely first (``codec_config.validate_config``).

        Arguments
        ---------
        config : dict
            Parsed ``config.json`` (v0.0.1 or v0.0.2 spelling).

        Returns
        -------
        codec : FocalCodec

        Raises
        ------
        CheckpointError
            Naming every invalid field.

        Example
        -------
        >>> from speechbrain_focalcodec.tiny import tiny_config
        >>> FocalCodec.from_config(tiny_config("25hz")).token_rate
        25.0
        """
        try:
            return cls(**build_components(config))
        except ValueError as error:
            raise checkpoints.CheckpointError(f"Invalid codec config: {error}") from None

    def to_config(self) -> Dict[str, Any]:
        """The official ``config.json`` dict of this codec (see ``codec_config``).

        Returns
        -------
        config : dict
        """
        return codec_config(self)

    @classmethod
    def from_pretrained(cls, source: Union[str, Path], **hub_kwargs: Any) -> "FocalCodec":
        """Loads a pretrained codec (in eval mode).

        Arguments
        ---------
        source : str or Path
            A Hugging Face repository id (e.g. ``lucadellalib/focalcodec_50hz``),
            a local directory holding ``config.json`` and ``model.safetensors``,
            or a local ``<name>.json`` next to ``<name>.safetensors``.
        **hub_kwargs : dict
            Forwarded to ``huggingface_hub.hf_hub_download`` (``revision``,
            ``cache_dir``, ``token``, ``local_files_only``...).

        Returns
        -------
        codec : FocalCodec

        Raises
        ------
        CheckpointError
            In one line, for anything that prevents loading.
        """
        config_path, weights_path = checkpoints.resolve_checkpoint(source, **hub_kwargs)
        codec = cls.from_config(checkpoints.read_config(config_path))
        checkpoints.load_state_dict(codec, checkpoints.read_state_dict(weights_path))
        return codec.eval()

    @mark_as_transfer
    def load_weights(self, path: Union[str, Path]) -> None:
        """Loads weights strictly from a state-dict file (either official layout).

        ``path`` may hold safetensors or a weights-only torch file; this is
        also the hook SpeechBrain's ``Pretrainer`` uses for this class.

        Arguments
        ---------
        path : str or Path
            Weights file.
        """
        checkpoints.load_state_dict(self, checkpoints.read_state_dict(path))

    def save_pretrained(self, directory: Union[str, Path]) -> None:
        """Writes ``config.json`` and ``model.safetensors`` (official layout)
        and a SpeechBrain ``hyperparams.yaml``, all three or none.

        Arguments
        ---------
        directory : str or Path
            Output directory (created if needed).
        """
        checkpoints.write_checkpoint(
            directory, self.to_config(), hparams_yaml(self), self.state_dict()
        )


def _fit_length(
    rec_sig: Tensor,
    rec_lens: Optional[Tensor],
    num_samples: int,
    lens: Optional[Tensor],
    ratio: float,
) -> Tensor:
    """Cuts or extends (repeating the last sample) each item to its input duration.

    Arguments
    ---------
    rec_sig : torch.Tensor
        Decoded waveforms, ``[B, samples_out]``.
    rec_lens : torch.Tensor, optional
        Their relative lengths.
    num_samples : int
        Padded length of the input waveforms.
    lens : torch.Tensor, optional
        Relative lengths of the input waveforms.
    ratio : float
        Output over input sample rate.

    Returns
    -------
    rec_sig : torch.Tensor
        ``[B, int(num_samples * ratio)]``, zero past each item's duration.
    """
    batch, length = rec_sig.shape
    out_len = int(num_samples * ratio)
    if rec_lens is None:
        have = torch.full((batch,), length, device=rec_sig.device)
    else:
        have = lens_to_counts(rec_lens, length)
    want = None if lens is None else (lens_to_counts(lens, num_samples).double() * ratio).long()
    steps = torch.arange(out_len, device=rec_sig.device)
    index = torch.minimum(steps[None, :], (have - 1)[:, None])
    rec_sig = rec_sig.gather(1, index)
    if want is None:
        return rec_sig
    return rec_sig.masked_fill(padding_mask(want, out_len), 0.0)
