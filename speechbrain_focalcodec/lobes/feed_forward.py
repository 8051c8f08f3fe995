"""Position-wise and chunk-wise feed-forward networks.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional

from torch import Tensor, nn

from speechbrain_focalcodec.ops.linear import Linear, linear
from speechbrain_focalcodec.ops.padding import zero_padding

__all__ = ["ChunkFeedForward", "FeedForward"]


class FeedForward(nn.Module):
    """Two-layer MLP with GELU applied to every frame.

    Arguments
    ---------
    dim : int
        Input and output size.
    ffn_dim : int
        Hidden size.
    dropout : float
        Dropout after the activation and after the output projection.

    Example
    -------
    >>> ffn = FeedForward(16, 32)
    >>> ffn(torch.randn(2, 5, 16)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(self, dim: int, ffn_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_proj = Linear(dim, ffn_dim)
        self.activation = nn.GELU()  # applied fused with in_proj, see `linear`
        self.dropout = nn.Dropout(dropout)
        self.out_proj = Linear(ffn_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Applies the MLP.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[..., dim]``.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        x = self.dropout(linear(x, self.in_proj.weight, self.in_proj.bias, "gelu"))
        return self.dropout(self.out_proj(x))


class ChunkFeedForward(nn.Module):
    """Residual MLP over non-overlapping chunks of consecutive frames.

    FocalCodec-Stream ends its decompressor with this "refiner": the frames of
    each chunk (the current frame plus its lookahead) are flattened, mixed by
    an MLP and added back. Chunks are aligned to the first frame; a partial
    last chunk is completed with zeros, also for padded batches.

    Arguments
    ---------
    chunk_frames : int
        Frames per chunk.
    dim : int
        Channels per frame.
    ffn_dim : int
        Hidden size of the MLP.
    dropout : float
        Dropout after the activation and after the output projection.

    Example
    -------
    >>> refiner = ChunkFeedForward(chunk_frames=4, dim=8, ffn_dim=16)
    >>> refiner(torch.randn(2, 10, 8)).shape
    torch.Size([2, 10, 8])
    """

    def __init__(self, chunk_frames: int, dim: int, ffn_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.chunk_frames = chunk_frames
        self.in_proj = Linear(chunk_frames * dim, ffn_dim)
        self.activation = nn.GELU()  # applied fused with in_proj, see `linear`
        self.dropout = nn.Dropout(dropout)
        self.out_proj = Linear(ffn_dim, chunk_frames * dim)

    def forward(self, x: Tensor, num_frames: Optional[Tensor] = None) -> Tensor:
        """Refines every chunk of frames.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``[batch, time, dim]``.
        num_frames : torch.Tensor, optional
            Valid frames per item; frames past them do not reach valid chunks.

        Returns
        -------
        y : torch.Tensor
            Same shape as ``x``.
        """
        batch, time, dim = x.shape
        num_chunks = -(-time // self.chunk_frames)
        pad = num_chunks * self.chunk_frames - time
        chunks = nn.functional.pad(zero_padding(x, num_frames), [0, 0, 0, pad])
        chunks = chunks.reshape(batch, num_chunks, self.chunk_frames * dim)
        chunks = linear(chunks, self.in_proj.weight, self.in_proj.bias, "gelu")
        chunks = self.dropout(chunks)
        chunks = self.dropout(self.out_proj(chunks))
        return x + chunks.reshape(batch, -1, dim)[:, :time]
