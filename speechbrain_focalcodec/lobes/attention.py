"""WavLM's transformer: gated relative position bias, full or chunked attention.

Offline, every frame attends to every valid frame of its utterance. Causal
encoders (FocalCodec-Stream) attend in chunks of ``1 + lookahead_size``
frames: a frame sees its whole chunk (the lookahead) and the
``window_size`` frames that end there.

Authors
 * speechbrain-focalcodec developers 2026
"""

import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.lobes.causal import Context, Fresh, left_context, take_contexts
from speechbrain_focalcodec.lobes.feed_forward import FeedForward
from speechbrain_focalcodec.lobes.history import History
from speechbrain_focalcodec.ops.capability import tracing
from speechbrain_focalcodec.ops.frame_conv import conv_frames
from speechbrain_focalcodec.ops.linear import Linear, product_dtype
from speechbrain_focalcodec.ops.padding import padding_mask, zero_padding

__all__ = [
    "ConvPositionalEmbedding",
    "GatedRelativeAttention",
    "RelativePositionBias",
    "TransformerEncoder",
    "TransformerLayer",
]


class RelativePositionBias(nn.Embedding):
    """Bucketed relative position bias (as in T5 and WavLM), one value per head.

    Offsets below ``num_buckets / 4`` in magnitude get their own bucket, larger
    ones share log-spaced buckets up to ``max_distance``; each direction has
    ``num_buckets / 2`` buckets. The module is the ``[num_buckets, num_heads]``
    embedding table itself.

    Arguments
    ---------
    num_buckets : int
        Number of buckets (both directions).
    max_distance : int
        Offset beyond which all offsets share the last bucket.
    num_heads : int
        Number of attention heads.

    Example
    -------
    >>> bias = RelativePositionBias(num_buckets=32, max_distance=64, num_heads=4)
    >>> bias(5, 7).shape
    torch.Size([4, 5, 7])
    """

    def __init__(
        self, num_buckets: int = 320, max_distance: int = 800, num_heads: int = 16
    ) -> None:
        super().__init__(num_buckets, num_heads)
        self.half_buckets = num_buckets // 2
        self.max_exact = self.half_buckets // 2
        self.log_ratio = math.log(max_distance / self.max_exact)

    def buckets(self, offsets: Tensor) -> Tensor:
        """Maps key-minus-query offsets to bucket indices.

        Arguments
        ---------
        offsets : torch.Tensor
            Integer offsets.

        Returns
        -------
        buckets : torch.Tensor
            Bucket indices, same shape.
        """
        buckets = (offsets > 0).long() * self.half_buckets
        distance = offsets.abs()
        # Same operation order as the reference, so bucket edges match bit for bit.
        large = (distance.float() / self.max_exact).log()
        large /= self.log_ratio
        large *= self.half_buckets - self.max_exact
        large += self.max_exact
        large = large.long().clamp(max=self.half_buckets - 1)
        return buckets + torch.where(distance < self.max_exact, distance, large)

    def forward(self, num_queries: int, num_keys: int, query_offset: int = 0) -> Tensor:
        """Bias between query positions ``query_offset + i`` and key positions ``j``.

        Arguments
        ---------
        num_queries : int
            Number of queries.
        num_keys : int
            Number of keys.
        query_offset : int
            Position of the first query.

        Returns
        -------
        bias : torch.Tensor
            Shape ``[heads, num_queries, num_keys]``.
        """
        device = self.weight.device
        # The bias only depends on the offset: look up each offset once.
        first = -(query_offset + num_queries - 1)
        offsets = torch.arange(first, num_keys - query_offset, device=device)
        table = nn.functional.embedding(self.buckets(offsets), self.weight).T
        if tracing():  # exporters: one lookup per (query, key) pair
            queries = torch.arange(num_queries, device=device)
            keys = torch.arange(num_keys, device=device)
            return table[:, keys[None, :] - queries[:, None] + (num_queries - 1)]
        # Query i reads the offsets from -(query_offset + i) on: the windows of
        # the table, last window first (a Toeplitz matrix, copied row by row).
        return table.unfold(1, num_keys, 1).flip(1)


class GatedRelativeAttention(nn.Module):
    """Multi-head self-attention with WavLM's gated relative position bias.

    Each head scales the shared relative position bias by a gate computed
    from the query frame's own input.

    Arguments
    ---------
    dim : int
        Model width.
    num_heads : int
        Number of heads.
    dropout : float
        Attention dropout.

    Example
    -------
    >>> attention = GatedRelativeAttention(16, num_heads=4)
    >>> x = torch.randn(2, 5, 16)
    >>> attention(x, torch.zeros(4, 5, 5)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(self, dim: int, num_heads: int = 16, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.dropout = dropout
        self.qkv_proj = Linear(dim, 3 * dim)
        self.out_proj = Linear(dim, dim)
        self.gru_rel_pos_linear = Linear(self.head_dim, 8)
        self.gru_rel_pos_const = nn.Parameter(torch.ones(1, num_heads, 1, 1))

    def forward(self, x: Tensor, position_bias: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Attends.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        position_bias : torch.Tensor
            Relative position bias, shape ``[heads, time, time]``.
        mask : torch.Tensor, optional
            Additive mask (0 or -inf), broadcastable to
            ``[batch, heads, time, time]``.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        return self.step(x, position_bias, mask)[0]

    def step(
        self,
        x: Tensor,
        position_bias: Tensor,
        mask: Optional[Tensor] = None,
        keys: Optional[Context] = None,
        values: Optional[Context] = None,
    ) -> Tuple[Tensor, Context, Context]:
        """Attends over cached keys and values of earlier frames and ``x`` itself
        (the only definition of the attention: ``forward`` has no cache).

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        position_bias : torch.Tensor
            Relative position bias, shape ``[heads, time, cache + time]``.
        mask : torch.Tensor, optional
            Additive mask (0 or -inf), broadcastable to
            ``[batch, heads, time, cache + time]``.
        keys : torch.Tensor or History, optional
            Cached keys ``[batch, heads, cache, head_dim]``; a ``History``
            (stream objects) takes the new keys in place.
        values : torch.Tensor or History, optional
            Cached values, same shape (and kind) as ``keys``.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        keys : torch.Tensor or History
            The cached keys followed by those of ``x`` (in the cache's dtype),
            or the given ``History``, advanced.
        values : torch.Tensor or History
            The same for the values.
        """
        batch, time, dim = x.shape
        heads = x.view(batch, time, self.num_heads, self.head_dim).transpose(1, 2)
        # Queries, keys and values in the precision of the projection (bfloat16
        # weights: bfloat16 attention, and caches held so by the streams).
        compute = product_dtype(x, self.qkv_proj.weight)
        query, key, value = (
            self.qkv_proj(x.to(compute))
            .view(batch, time, 3, self.num_heads, self.head_dim)
            .permute(2, 0, 3, 1, 4)
        )
        if isinstance(keys, History) != isinstance(values, History):
            raise TypeError("`keys` and `values` must both be History buffers or both tensors")
        if isinstance(keys, History):
            key, value = keys.extend(key), values.extend(value)
            new_keys, new_values = keys, values
        elif keys is not None and values is not None:
            key = torch.cat([keys.to(key.dtype), key], dim=2)
            value = torch.cat([values.to(value.dtype), value], dim=2)
            # Plain caches keep their dtype from chunk to chunk.
            new_keys, new_values = key.to(keys.dtype), value.to(values.dtype)
        else:
            new_keys, new_values = key, value
        gates = self.gru_rel_pos_linear(heads).view(batch, self.num_heads, time, 2, 4)
        gate_a, gate_b = gates.sum(dim=-1).sigmoid().chunk(2, dim=-1)
        gate = gate_a * (gate_b * self.gru_rel_pos_const - 1.0) + 2.0
        bias = gate * position_bias
        if mask is not None:
            bias = bias + mask
        output = nn.functional.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=bias.to(query.dtype),
            dropout_p=self.dropout if self.training else 0.0,
        )
        y = self.out_proj(output.transpose(1, 2).reshape(batch, time, dim))
        return (y if compute == x.dtype else y.to(x.dtype)), new_keys, new_values


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: gated relative attention, then feed-forward.

    Arguments
    ---------
    dim : int
        Model width.
    ffn_dim : int
        Feed-forward hidden size.
    num_heads : int
        Number of attention heads.
    dropout : float
        Dropout.

    Example
    -------
    >>> layer = TransformerLayer(16, 32, num_heads=4)
    >>> layer(torch.randn(2, 5, 16), torch.zeros(4, 5, 5)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = GatedRelativeAttention(dim, num_heads, dropout)
        self.dropout = nn.Dropout(dropout)
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim, ffn_dim, dropout)

    def forward(self, x: Tensor, position_bias: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Applies the layer.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        position_bias : torch.Tensor
            Relative position bias, shape ``[heads, time, time]``.
        mask : torch.Tensor, optional
            Additive attention mask.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        return self.step(x, position_bias, mask)[0]

    def step(
        self,
        x: Tensor,
        position_bias: Tensor,
        mask: Optional[Tensor] = None,
        keys: Optional[Context] = None,
        values: Optional[Context] = None,
    ) -> Tuple[Tensor, Context, Context]:
        """Applies the layer after cached keys and values (see
        ``GatedRelativeAttention.step``).

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        position_bias : torch.Tensor
            Relative position bias, shape ``[heads, time, cache + time]``.
        mask : torch.Tensor, optional
            Additive attention mask.
        keys : torch.Tensor or History, optional
            Cached keys (see ``GatedRelativeAttention.step``).
        values : torch.Tensor or History, optional
            Cached values.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        keys : torch.Tensor or History
            Cached and new keys.
        values : torch.Tensor or History
            Cached and new values.
        """
        h, keys, values = self.attention.step(
            self.attention_norm(x), position_bias, mask, keys, values
        )
        x = x + self.dropout(h)
        return x + self.feed_forward(self.feed_forward_norm(x)), keys, values


class ConvPositionalEmbedding(nn.Module):
    """Grouped convolution + GELU whose output is added to the input frames.

    Arguments
    ---------
    dim : int
        Model width.
    kernel_size : int
        Convolution kernel.
    groups : int
        Convolution groups.
    causal : bool
        Causal convolution (left-padded with the first frame).

    Example
    -------
    >>> embedding = ConvPositionalEmbedding(16, kernel_size=8, groups=4)
    >>> embedding(torch.randn(2, 5, 16)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(
        self, dim: int, kernel_size: int = 128, groups: int = 16, causal: bool = False
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.causal = causal
        self.conv = nn.Conv1d(
            dim,
            dim,
            kernel_size,
            padding=0 if causal else kernel_size // 2,
            groups=groups,
        )
        self.activation = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        """Computes the positional embedding.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``, zero on padded frames.

        Returns
        -------
        embedding : torch.Tensor
            Same shape as ``x``.
        """
        return self.step(x)[0]

    def context_shapes(self) -> List[Tuple[int, int]]:
        """``(frames, channels)`` of the left context of a causal embedding."""
        pad = self.kernel_size - 1
        return [(pad, self.conv.in_channels)] if self.causal and pad else []

    def step(
        self, x: Tensor, contexts: Optional[List[Context]] = None, fresh: Fresh = False
    ) -> Tuple[Tensor, List[Context]]:
        """Computes the embedding after the given left context (causal only).

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        contexts : list of torch.Tensor or History, optional
            The left context of the causal convolution; None at the start.
        fresh : bool or torch.Tensor
            Streams that start with ``x`` (see ``causal.left_context``).

        Returns
        -------
        embedding : torch.Tensor
            Same shape as ``x``.
        contexts : list of torch.Tensor or History
            Left context for the frames that follow (empty offline).
        """
        time = x.shape[1]
        h, new_contexts = x, []
        if self.causal and self.kernel_size > 1:
            (context,) = take_contexts(contexts, 1)
            h, context = left_context(x, self.kernel_size - 1, "replicate", context, fresh)
            new_contexts.append(context)
        conv = self.conv
        # An even kernel with symmetric padding yields one extra frame.
        h = conv_frames(h, conv.weight, conv.bias, conv.padding, conv.groups)[:, :time]
        return self.activation(h), new_contexts


class TransformerEncoder(nn.Module):
    """WavLM transformer encoder (no final LayerNorm, as in FocalCodec).

    Arguments
    ---------
    num_layers : int
        Number of layers.
    dim : int
        Model width.
    ffn_dim : int
        Feed-forward hidden size.
    num_heads : int
        Attention heads.
    num_buckets : int
        Relative position buckets.
    max_distance : int
        Largest distinguished relative offset.
    dropout : float
        Dropout.
    conv_pos : int
        Kernel of the convolutional positional embedding.
    conv_pos_groups : int
        Groups of the convolutional positional embedding.
    causal : bool
        Chunked causal attention and causal positional convolution.
    window_size : int
        Frames of left context of each chunk (causal only).
    lookahead_size : int
        Frames of lookahead; chunks have ``1 + lookahead_size`` frames
        (causal only).

    Example
    -------
    >>> encoder = TransformerEncoder(2, 16, 32, num_heads=4, conv_pos=8, conv_pos_groups=4)
    >>> encoder(torch.randn(2, 9, 16), torch.tensor([9, 5])).shape
    torch.Size([2, 9, 16])
    """

    def __init__(
        self,
        num_layers: int = 6,
        dim: int = 1024,
        ffn_dim: int = 4096,
        num_heads: int = 16,
        num_buckets: int = 320,
        max_distance: int = 800,
        dropout: float = 0.0,
        conv_pos: int = 128,
        conv_pos_groups: int = 16,
        causal: bool = False,
        window_size: int = 512,
        lookahead_size: int = 3,
    ) -> None:
        super().__init__()
        if causal and window_size < 1 + lookahead_size:
            raise ValueError(
                f"`window_size` ({window_size}) must cover a chunk of {1 + lookahead_size} frames"
            )
        self.causal = causal
        self.window_size = window_size
        self.chunk_frames = 1 + lookahead_size
        self.cache_size = window_size - 1 if causal else 0
        self.positional_embedding = ConvPositionalEmbedding(dim, conv_pos, conv_pos_groups, causal)
        self.relative_embedding = RelativePositionBias(num_buckets, max_distance, num_heads)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, ffn_dim, num_heads, dropout) for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)

    def attention_mask(
        self,
        time: int,
        num_frames: Optional[Tensor],
        device: torch.device,
        cache_size: int = 0,
        seen: Optional[Tensor] = None,
    ) -> Optional[Tensor]:
        """Additive mask of the allowed (query, key) pairs.

        Offline, valid queries see the valid keys of their item. Causal
        queries see their chunk and the ``window_size`` frames ending with
        it, the last chunk being cut at the item's own end; with a cache of
        ``cache_size`` earlier frames before the keys, cached frames older
        than each stream (``seen``) are masked.

        Arguments
        ---------
        time : int
            Number of (query) frames.
        num_frames : torch.Tensor, optional
            Valid frames per item.
        device : torch.device
            Device of the mask.
        cache_size : int
            Cached frames before the keys of the queries (causal only).
        seen : torch.Tensor, optional
            ``[batch]`` frames that each stream processed before (causal
            with a cache only).

        Returns
        -------
        mask : torch.Tensor or None
            Shape ``[batch or 1, 1, time, cache_size + time]``, 0 where
            allowed and -inf elsewhere; None when everything is allowed.
        """
        steps = torch.arange(time, device=device)
        if self.causal:
            counts = steps[-1:] + 1 if num_frames is None else num_frames
            ends = (steps // self.chunk_frames + 1) * self.chunk_frames
            ends = torch.minimum(ends[None, :], counts[:, None]) + cache_size
            keys = torch.arange(cache_size + time, device=device)[None, None, :]
            allowed = (keys >= (ends - self.window_size)[..., None]) & (keys < ends[..., None])
            if seen is not None:
                first = cache_size - torch.clamp(seen, max=cache_size)
                allowed = allowed & (keys >= first[:, None, None])
        elif num_frames is not None:
            padded = padding_mask(num_frames, time)
            # Padded queries keep every key so that no row is fully masked.
            allowed = ~padded[:, None, :] | padded[:, :, None]
        else:
            return None
        mask = torch.zeros(allowed.shape, device=device)
        return mask.masked_fill(~allowed, float("-inf"))[:, None]

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Encodes a sequence of frames.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        return self.step(zero_padding(x, num_frames), num_frames=num_frames)[0]

    def step(
        self,
        x: Tensor,
        contexts: Optional[List[Context]] = None,
        caches: Optional[List[Context]] = None,
        seen: Optional[Tensor] = None,
        fresh: Fresh = False,
        num_frames: Optional[Tensor] = None,
    ) -> Tuple[Tensor, List[Context], List[Context]]:
        """Encodes the frames that follow the given state (the only definition
        of the encoder: ``forward`` is the step from the start, without cache).

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        contexts : list of torch.Tensor or History, optional
            Causal encoders: the left context of the positional convolution
            (see ``ConvPositionalEmbedding.context_shapes``); None at the start.
        caches : list of torch.Tensor or History, optional
            Causal encoders: keys and values of the last ``cache_size`` frames
            of each layer (``[batch, heads, cache_size, head_dim]``, keys then
            values, layer by layer); None: no cache (offline).
        seen : torch.Tensor, optional
            With ``caches``: ``[batch]`` frames each stream processed before
            (older cache slots are masked).
        fresh : bool or torch.Tensor
            Streams that start with ``x`` (see ``causal.left_context``).
        num_frames : torch.Tensor, optional
            Valid frames per item.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        contexts : list of torch.Tensor or History
            Left context for the frames that follow (empty offline).
        caches : list of torch.Tensor or History
            With ``caches``: the caches for the frames that follow, else empty.
        """
        time = x.shape[1]
        if caches is None and contexts is None:
            # Offline: through ``forward`` (the same step), so that forward hooks
            # on the embedding (e.g. distillation targets) see the call.
            h, contexts = self.positional_embedding(x), []
        else:
            h, contexts = self.positional_embedding.step(x, contexts, fresh)
        x = self.dropout(x + h)
        cache_size = 0 if caches is None else self.cache_size
        position_bias = self.relative_embedding(time, cache_size + time, cache_size)
        mask = self.attention_mask(time, num_frames, x.device, cache_size, seen)
        new_caches: List[Context] = []
        for i, layer in enumerate(self.layers):
            if caches is None:
                x = layer(x, position_bias, mask)
                continue
            x, keys, values = layer.step(x, position_bias, mask, caches[2 * i], caches[2 * i + 1])
            if not isinstance(keys, History):
                start = keys.shape[2] - cache_size
                keys, values = keys[:, :, start:], values[:, :, start:]
            new_caches += [keys, values]
        return x, contexts, new_caches
