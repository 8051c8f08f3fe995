"""Decoder-only transformer from text and a speaker embedding to codec tokens.

One sequence per utterance: ``[speaker | text | BOS | tokens]``. The speaker
embedding and the text characters form the prompt; the model predicts each
codec token from everything before it and ends with EOS. Causal self-attention
(pre-norm SpeechBrain transformer layers, sinusoidal positions); padded text
positions are masked out of the attention.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional, Tuple

import torch
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.lobes.models.transformer.Transformer import (
    PositionalEncoding,
    TransformerEncoder,
)
from torch import Tensor, nn

from speechbrain_focalcodec.ops.padding import lens_to_counts
from speechbrain_focalcodec.probes.token_embedding import TokenEmbedding

__all__ = ["TextToTokensDecoder", "top_p_sample"]


def top_p_sample(logits: Tensor, top_p: float, temperature: float = 1.0) -> Tensor:
    """Nucleus sampling: draws from the smallest set of entries whose
    probabilities add up to ``top_p``.

    Arguments
    ---------
    logits : torch.Tensor
        ``[B, C]``.
    top_p : float
        In (0, 1].
    temperature : float
        Softmax temperature (> 0).

    Returns
    -------
    ids : torch.Tensor
        ``[B]``.

    Example
    -------
    >>> top_p_sample(torch.tensor([[0.0, 9.0, 0.0]]), top_p=0.5)
    tensor([1])
    """
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the entries ranked above
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
    choice = torch.multinomial(sorted_probs, 1)
    return order.gather(-1, choice)[:, 0]


class TextToTokensDecoder(nn.Module):
    """Decoder-only text-to-token model prompted by a speaker embedding.

    Arguments
    ---------
    num_tokens : int
        Entries of the codec's codebook; the output has one more class, EOS.
    num_chars : int
        Size of the text vocabulary.
    speaker_dim : int
        Size of the speaker embedding.
    embedding_dim : int
        Size of the token embedding (the codebook's ``D`` when initialised from it).
    d_model : int
        Width of the transformer.
    nhead : int
        Attention heads.
    num_layers : int
        Transformer layers.
    d_ffn : int
        Hidden size of the feed-forward blocks.
    dropout : float
        Dropout.
    max_length : int
        Longest sequence (speaker + text + tokens + 1).
    codebook : torch.Tensor, optional
        Initial token embeddings ``[num_tokens, embedding_dim]``.
    freeze_embeddings : bool
        Whether the token embeddings stay fixed.

    Example
    -------
    >>> model = TextToTokensDecoder(256, 30, 8, embedding_dim=8, d_model=32, nhead=2,
    ...                             num_layers=1, d_ffn=64)
    >>> spk, text, toks = torch.randn(2, 8), torch.randint(30, (2, 7)), torch.randint(256, (2, 20))
    >>> log_probs, lens = model(spk, text, torch.tensor([1.0, 0.5]), toks, torch.tensor([1.0, 0.8]))
    >>> log_probs.shape, lens  # 20 tokens + EOS, 257 classes
    (torch.Size([2, 21, 257]), tensor([1.0000, 0.8095]))
    >>> gen, gen_lens = model.generate(spk, text, torch.tensor([1.0, 0.5]), max_tokens=5)
    >>> gen.shape[0], bool((gen < 256).all())
    (2, True)
    """

    def __init__(
        self,
        num_tokens: int,
        num_chars: int,
        speaker_dim: int,
        embedding_dim: int = 13,
        d_model: int = 512,
        nhead: int = 4,
        num_layers: int = 12,
        d_ffn: int = 2048,
        dropout: float = 0.1,
        max_length: int = 4096,
        codebook: Optional[Tensor] = None,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.eos = num_tokens
        self.speaker_proj = nn.Linear(speaker_dim, d_model)
        self.text_embedding = nn.Embedding(num_chars, d_model)
        self.token_embedding = TokenEmbedding(
            num_tokens, embedding_dim, codebook, freeze_embeddings
        )
        self.token_proj = nn.Linear(embedding_dim, d_model)
        self.bos = nn.Parameter(0.02 * torch.randn(d_model))
        self.positions = PositionalEncoding(d_model, max_length)
        self.decoder = TransformerEncoder(
            num_layers=num_layers,
            nhead=nhead,
            d_ffn=d_ffn,
            d_model=d_model,
            dropout=dropout,
            activation=nn.GELU,
            normalize_before=True,
        )
        self.head = nn.Linear(d_model, num_tokens + 1)

    def _prompt(self, spk: Tensor, text: Tensor, text_lens: Tensor) -> Tuple[Tensor, Tensor]:
        """Prompt embeddings ``[B, 1 + T + 1, d]`` (speaker, text, BOS) and its padding."""
        batch, num_chars = text.shape
        prompt = torch.cat(
            [
                self.speaker_proj(spk)[:, None],
                self.text_embedding(text),
                self.bos.expand(batch, 1, -1),
            ],
            dim=1,
        )
        valid = length_to_mask(lens_to_counts(text_lens, num_chars), num_chars).bool()
        ones = torch.ones(batch, 1, dtype=torch.bool, device=text.device)
        return prompt, ~torch.cat([ones, valid.to(text.device), ones], dim=1)

    def _run(self, embs: Tensor, padding: Tensor) -> Tensor:
        length = embs.shape[1]
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=embs.device), 1)
        hidden, _ = self.decoder(
            embs + self.positions(embs), src_mask=causal, src_key_padding_mask=padding
        )
        return self.head(hidden)

    def forward(
        self, spk: Tensor, text: Tensor, text_lens: Tensor, toks: Tensor, toks_lens: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """Log-probabilities of each token and of EOS (teacher forcing).

        Arguments
        ---------
        spk : torch.Tensor
            Speaker embeddings ``[B, speaker_dim]``.
        text : torch.Tensor
            Characters ``[B, T]``.
        text_lens : torch.Tensor
            Their relative lengths.
        toks : torch.Tensor
            Codec tokens ``[B, N]``.
        toks_lens : torch.Tensor
            Their relative lengths.

        Returns
        -------
        log_probs : torch.Tensor
            ``[B, N + 1, num_tokens + 1]``: position ``i`` predicts token ``i``
            (EOS at each utterance's end).
        lens : torch.Tensor
            Relative lengths of the targets (tokens + EOS).
        """
        prompt, padding = self._prompt(spk, text, text_lens)
        embs = self.token_proj(self.token_embedding(toks)[0])
        no_padding = torch.zeros(toks.shape, dtype=torch.bool, device=toks.device)
        logits = self._run(torch.cat([prompt, embs], 1), torch.cat([padding, no_padding], 1))
        num_toks = toks.shape[1]
        counts = lens_to_counts(toks_lens, num_toks)
        return logits[:, -(num_toks + 1) :].log_softmax(-1), (counts + 1) / (num_toks + 1)

    def targets(self, toks: Tensor, toks_lens: Tensor) -> Tensor:
        """Tokens followed by EOS at each utterance's end, ``[B, N + 1]``.

        Arguments
        ---------
        toks : torch.Tensor
            Codec tokens ``[B, N]``.
        toks_lens : torch.Tensor
            Their relative lengths.

        Returns
        -------
        targets : torch.Tensor
        """
        targets = nn.functional.pad(toks, [0, 1])
        counts = lens_to_counts(toks_lens, toks.shape[1])
        return targets.scatter(1, counts[:, None], self.eos)

    @torch.no_grad()
    def generate(
        self,
        spk: Tensor,
        text: Tensor,
        text_lens: Tensor,
        max_tokens: int,
        top_p: float = 0.9,
        temperature: float = 1.0,
    ) -> Tuple[Tensor, Tensor]:
        """Samples tokens until EOS (or ``max_tokens``) with nucleus sampling.

        Arguments
        ---------
        spk : torch.Tensor
            Speaker embeddings ``[B, speaker_dim]``.
        text : torch.Tensor
            Characters ``[B, T]``.
        text_lens : torch.Tensor
            Their relative lengths.
        max_tokens : int
            Longest output.
        top_p : float
            Nucleus mass.
        temperature : float
            Softmax temperature.

        Returns
        -------
        toks : torch.Tensor
            ``[B, N]``, zero past each utterance's end.
        lens : torch.Tensor
            Relative lengths.
        """
        embs, padding = self._prompt(spk, text, text_lens)
        batch = spk.shape[0]
        toks = torch.zeros(batch, 0, dtype=torch.long, device=spk.device)
        done = torch.zeros(batch, dtype=torch.bool, device=spk.device)
        counts = torch.full((batch,), max_tokens, device=spk.device)
        for step in range(max_tokens):
            logits = self._run(embs, padding)[:, -1]
            if step == 0:
                logits[:, self.eos] = -float("inf")  # at least one token
            new = top_p_sample(logits, top_p, temperature)
            ended = (new == self.eos) & ~done
            counts[ended] = step
            done |= ended
            if bool(done.all()):
                break
            new = new.masked_fill(done, 0)
            toks = torch.cat([toks, new[:, None]], 1)
            new_embs = self.token_proj(self.token_embedding(new[:, None])[0])
            embs = torch.cat([embs, new_embs], 1)
            padding = torch.cat([padding, torch.zeros_like(padding[:, :1])], 1)
        length = max(toks.shape[1], 1)
        toks = nn.functional.pad(toks, [0, length - toks.shape[1]])
        counts = counts.clamp(1, length)
        toks = toks.masked_fill(~length_to_mask(counts, length).bool(), 0)
        return toks, counts.float() / length
