"""The recent frames of a batch of streams, kept in place for chunk-by-chunk processing.

A causal block needs, for every chunk, its left context (or attention cache)
followed by the chunk's own frames. With plain tensors that is a
concatenation per chunk, i.e. a copy of the whole context (511 frames of
1024 channels for the long windows of FocalCodec-Stream, twelve attention
caches in the encoder), which dominates the chunk time of a stream.

A ``History`` holds the last ``size`` frames in a buffer with room after
them: ``extend`` writes the new frames after the history and returns the
history followed by them as one view of the buffer, then moves the window
on. The history itself is copied only when the room is used up (to the
start of the buffer, once every ``room`` appended frames). The blocks accept
a ``History`` wherever they accept a left context or cache
(``causal.left_context``, ``GatedRelativeAttention.step``) and then return
the same (advanced) object; the stream objects of ``streaming.py`` hold
their state so. Since it is updated in place, a ``History`` belongs to one
sequence of steps: the functional step modules (and the ONNX export) keep
plain tensors.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional

import torch
from torch import Tensor

__all__ = ["History"]


class History:
    """The last ``size`` frames (along ``dim``) of a batch of streams, in a buffer with room.

    Arguments
    ---------
    frames : torch.Tensor
        The initial history; its length along ``dim`` is ``size``.
    dim : int
        The time axis (1 for ``[batch, time, channels]`` contexts, 2 for
        ``[batch, heads, time, head_dim]`` attention caches).
    room : int, optional
        Frames that can be appended before the history is moved back to the
        start of the buffer; ``max(size, 64)`` by default.

    Example
    -------
    >>> history = History(torch.zeros(1, 2, 1), dim=1)
    >>> history.extend(torch.tensor([[[1.0], [2.0], [3.0]]]))[..., 0]
    tensor([[0., 0., 1., 2., 3.]])
    >>> history.frames[..., 0]
    tensor([[2., 3.]])
    """

    def __init__(self, frames: Tensor, dim: int, room: Optional[int] = None) -> None:
        self.dim = dim % frames.ndim
        self.size = frames.shape[self.dim]
        room = max(self.size, 64) if room is None else room
        if room < 1:
            raise ValueError(f"`room` must be positive, got {room}")
        self.buffer = self._allocate(frames, self.size + room)
        self.buffer.narrow(self.dim, 0, self.size).copy_(frames)
        self.start = 0

    def _allocate(self, like: Tensor, length: int) -> Tensor:
        shape = list(like.shape)
        shape[self.dim] = length
        return like.new_empty(shape)

    @property
    def frames(self) -> Tensor:
        """The history: a view of the buffer, ``size`` frames along ``dim``."""
        return self.buffer.narrow(self.dim, self.start, self.size)

    @property
    def shape(self) -> torch.Size:
        """Shape of the history."""
        return self.frames.shape

    @property
    def device(self) -> torch.device:
        """Device of the buffer."""
        return self.buffer.device

    @property
    def dtype(self) -> torch.dtype:
        """Floating point type of the buffer."""
        return self.buffer.dtype

    def extend(self, x: Tensor) -> Tensor:
        """Appends ``x`` and returns the previous history followed by ``x``.

        Arguments
        ---------
        x : torch.Tensor
            New frames, the history's shape except along ``dim``.

        Returns
        -------
        frames : torch.Tensor
            ``size + x.shape[dim]`` frames along ``dim``, in the dtype of
            ``x`` (the history moves to it): a view of the buffer, valid until
            the next call of ``extend``.
        """
        new = x.shape[self.dim]
        if x.dtype != self.buffer.dtype:
            # Kept in the precision of the frames it receives (the bfloat16
            # attention caches of the fast mode), whatever the initial state's.
            frames = self.frames
            self.buffer = self._allocate(x, self.buffer.shape[self.dim])
            self.buffer.narrow(self.dim, 0, self.size).copy_(frames)
            self.start = 0
        if self.start + self.size + new > self.buffer.shape[self.dim]:
            self._move_to_start(new)
        end = self.start + self.size
        self.buffer.narrow(self.dim, end, new).copy_(x)
        frames = self.buffer.narrow(self.dim, self.start, self.size + new)
        self.start += new
        return frames

    def _move_to_start(self, new: int) -> None:
        """Copies the history to the start of the buffer (a larger one if
        ``new`` frames would not fit after it)."""
        frames = self.frames
        length = self.buffer.shape[self.dim]
        if self.size + new > length:
            self.buffer = self._allocate(frames, 2 * self.size + new)
        elif self.start < self.size:  # overlapping source and destination
            frames = frames.clone()
        self.buffer.narrow(self.dim, 0, self.size).copy_(frames)
        self.start = 0

    def replace(self, frames: Tensor, rows: Optional[Tensor] = None) -> None:
        """Overwrites the history of every stream, or of the streams in ``rows``.

        Arguments
        ---------
        frames : torch.Tensor
            New history (broadcastable to its shape).
        rows : torch.Tensor, optional
            ``[batch]`` bool mask of the streams to overwrite; None: all.
        """
        current = self.frames
        if rows is not None:
            shape = [-1] + [1] * (current.ndim - 1)
            frames = torch.where(rows.view(shape), frames, current)
        current.copy_(frames)

    def to(self, device: torch.device, dtype: torch.dtype) -> "History":
        """The history on ``device`` in ``dtype`` (itself if already there)."""
        if self.buffer.device == device and self.buffer.dtype == dtype:
            return self
        return History(self.frames.to(device, dtype), self.dim)
