"""FocalCodec as a DASB audio tokenizer.

DASB (Mousavi et al., "DASB - Discrete Audio and Speech Benchmark",
https://arxiv.org/abs/2406.14294) recipes talk to audio tokenizers through
``sig_to_tokens``, ``tokens_to_sig`` and ``get_pretrained_embeddings``, with
tokens shaped ``[batch, tokens, codebooks]``. FocalCodec has one codebook of
``2^D`` entries whose embeddings are the BSQ codes.

When DASB is importable (its ``benchmarks/DASB`` folder on ``sys.path``, as in
its recipes), ``FocalCodecTokenizer`` also subclasses DASB's abstract
``utils.tokenizer_interface.BaseTokenizer``, so ``isinstance`` checks against
it hold; without DASB it is a plain ``torch.nn.Module``.

Authors
 * speechbrain-focalcodec developers 2026
"""

import importlib.util
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.codec import FocalCodec

__all__ = ["FocalCodecTokenizer"]


def _dasb_base_classes() -> Tuple[type, ...]:
    """DASB's ``BaseTokenizer`` when DASB is importable, else nothing."""
    try:
        if importlib.util.find_spec("utils") is None:
            return ()
        from utils.tokenizer_interface import BaseTokenizer
    except Exception:  # no DASB on the path, or its optional dependencies missing
        return ()
    return (BaseTokenizer,) if isinstance(BaseTokenizer, type) else ()


class FocalCodecTokenizer(nn.Module, *_dasb_base_classes()):
    """DASB-compatible tokenizer wrapping a frozen ``FocalCodec``.

    Arguments
    ---------
    source : str or Path, optional
        Pretrained codec to load (Hugging Face repository id or local
        directory), see ``FocalCodec.from_pretrained``.
    codec : FocalCodec, optional
        An already built codec (instead of ``source``).
    **hub_kwargs : dict
        Forwarded to ``FocalCodec.from_pretrained``.

    Example
    -------
    >>> tokenizer = FocalCodecTokenizer(source="tests/golden/tiny_50hz")
    >>> sig, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.5])
    >>> tokens = tokenizer.sig_to_tokens(sig, lens)
    >>> tokens.shape, tokens.dtype
    (torch.Size([2, 49, 1]), torch.int64)
    >>> tokenizer.tokens_to_sig(tokens).shape
    torch.Size([2, 15680])
    >>> tokenizer.get_pretrained_embeddings(8192, 1, "cpu").shape
    torch.Size([8192, 13])
    """

    def __init__(
        self,
        source: Optional[Union[str, Path]] = None,
        codec: Optional[FocalCodec] = None,
        **hub_kwargs: Any,
    ) -> None:
        super().__init__()
        if (source is None) == (codec is None):
            raise ValueError("Give exactly one of `source` and `codec`")
        if codec is None:
            codec = FocalCodec.from_pretrained(source, **hub_kwargs)
        self.codec = codec.eval().requires_grad_(False)

    @property
    def sample_rate(self) -> int:
        """Rate of the input waveforms (Hz)."""
        return self.codec.sample_rate_input

    @property
    def sample_rate_output(self) -> int:
        """Rate of the decoded waveforms (Hz)."""
        return self.codec.sample_rate_output

    @property
    def num_codebooks(self) -> int:
        """Always one."""
        return 1

    @property
    def vocab_size(self) -> int:
        """Entries of the codebook, ``2^D``."""
        return self.codec.codebook_size

    def train(self, mode: bool = True) -> "FocalCodecTokenizer":
        """Keeps the codec in eval mode: the tokenizer is frozen."""
        super().train(mode)
        self.codec.eval()
        return self

    @torch.no_grad()
    def sig_to_tokens(
        self,
        signal: Tensor,
        lengths: Optional[Tensor] = None,
        num_codebooks: Optional[int] = None,
        **kwargs: Any,
    ) -> Tensor:
        """Encodes waveforms into tokens.

        Arguments
        ---------
        signal : torch.Tensor
            Waveforms at ``sample_rate``, shape ``[batch, samples]``.
        lengths : torch.Tensor, optional
            Relative lengths, shape ``[batch]``.
        num_codebooks : int, optional
            Must be None or 1.
        **kwargs : dict
            Ignored (DASB passes tokenizer-specific options).

        Returns
        -------
        tokens : torch.Tensor
            Shape ``[batch, tokens, 1]``, int64; zero past each item's end.
        """
        self._check_codebooks(num_codebooks)
        return self.codec.sig_to_toks(signal, lengths)[..., None]

    @torch.no_grad()
    def tokens_to_sig(
        self, tokens: Tensor, lengths: Optional[Tensor] = None, **kwargs: Any
    ) -> Tensor:
        """Decodes tokens into waveforms.

        Arguments
        ---------
        tokens : torch.Tensor
            Shape ``[batch, tokens, 1]`` or ``[batch, tokens]``.
        lengths : torch.Tensor, optional
            Relative lengths of the tokens.
        **kwargs : dict
            Ignored.

        Returns
        -------
        signal : torch.Tensor
            Shape ``[batch, samples]`` at ``sample_rate_output``.
        """
        if tokens.ndim == 3:
            if tokens.shape[-1] != 1:
                raise ValueError(
                    f"FocalCodec has a single codebook, got tokens of shape {list(tokens.shape)}"
                )
            tokens = tokens[..., 0]
        return self.codec.toks_to_sig(tokens, lengths)

    @torch.no_grad()
    def get_pretrained_embeddings(
        self,
        vocab_size: Optional[int] = None,
        num_codebooks: Optional[int] = None,
        device: Optional[Union[str, torch.device]] = None,
        **kwargs: Any,
    ) -> Tensor:
        """The codebook: row ``t`` is the BSQ code of token ``t``.

        Arguments
        ---------
        vocab_size : int, optional
            Must be None or ``2^D``.
        num_codebooks : int, optional
            Must be None or 1.
        device : str or torch.device, optional
            Where to return the embeddings; by default the codec's device.
        **kwargs : dict
            Ignored.

        Returns
        -------
        embeddings : torch.Tensor
            Shape ``[2^D, D]``.
        """
        self._check_codebooks(num_codebooks)
        if vocab_size is not None and vocab_size != self.vocab_size:
            raise ValueError(f"This codec has {self.vocab_size} tokens, not {vocab_size}")
        embeddings = self.codec.codebook.clone()
        return embeddings if device is None else embeddings.to(device)

    @staticmethod
    def _check_codebooks(num_codebooks: Optional[int]) -> None:
        if num_codebooks not in (None, 1):
            raise ValueError(f"FocalCodec has a single codebook, got num_codebooks={num_codebooks}")
