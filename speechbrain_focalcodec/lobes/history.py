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
start of a new buffer, once every ``room`` appended frames), and the frames
of an earlier history are never overwritten: a stream whose step fails
midway goes back to its state before the chunk (``snapshot`` / ``restore``).
Buffers are normal tensors even when made inside ``torch.inference_mode``,
so that a stream can be used in and out of it. The blocks accept
a ``History`` wherever they accept a left context or cache
(``causal.left_context``, ``GatedRelativeAttention.step``) and then return
the same (advanced) object; the stream objects of ``streaming.py`` hold
their state so. Since it is updated in place, a ``History`` belongs to one
sequence of steps: the functional step modules (and the ONNX export) keep
plain tensors.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import Optional, Tuple

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
        Frames that can be appended before the history is copied to the
        start of a new buffer; ``max(size, 64)`` by default (the 511-frame
        windows of FocalCodec-Stream: once every 128 chunks of 4 frames).
    start : int
        Where the history starts in its first buffer (at most ``room``):
        histories of one stream given different starts are copied at
        different chunks, not all at once.

    Example
    -------
    >>> history = History(torch.zeros(1, 2, 1), dim=1)
    >>> history.extend(torch.tensor([[[1.0], [2.0], [3.0]]]))[..., 0]
    tensor([[0., 0., 1., 2., 3.]])
    >>> history.frames[..., 0]
    tensor([[2., 3.]])
    """

    def __init__(
        self, frames: Tensor, dim: int, room: Optional[int] = None, start: int = 0
    ) -> None:
        self.dim = dim % frames.ndim
        self.size = frames.shape[self.dim]
        self.room = self.default_room(self.size) if room is None else room
        if self.room < 1:
            raise ValueError(f"`room` must be positive, got {self.room}")
        if not 0 <= start <= self.room:
            raise ValueError(f"`start` must be in [0, {self.room}], got {start}")
        self.buffer = self._allocate(frames, self.size + self.room)
        self.buffer.narrow(self.dim, start, self.size).copy_(frames)
        self.start = start

    @staticmethod
    def default_room(size: int) -> int:
        """The default room of a history of ``size`` frames: as many, at least 64.

        Arguments
        ---------
        size : int
            Frames kept.

        Returns
        -------
        room : int

        Example
        -------
        >>> History.default_room(511), History.default_room(6)
        (511, 64)
        """
        return max(size, 64)

    def _allocate(self, like: Tensor, length: int) -> Tensor:
        """A new buffer of ``length`` frames shaped, typed and placed as ``like``:
        a normal tensor even inside ``torch.inference_mode`` (the stream may be
        used outside it later), never one that a saved state still reads."""
        shape = list(like.shape)
        shape[self.dim] = length
        with torch.inference_mode(False):
            return torch.empty(shape, dtype=like.dtype, device=like.device)

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

        The frames of the previous history are never overwritten (the history
        moves to a new buffer when the room is used up), so that ``restore``
        can take the history back to a ``snapshot``.

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

        Example
        -------
        >>> history = History(torch.zeros(1, 1, 1), dim=1, room=2)
        >>> [history.extend(torch.full((1, 2, 1), float(i)))[0, :, 0].tolist() for i in (1, 2)]
        [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0]]
        """
        new = x.shape[self.dim]
        end = self.start + self.size
        if x.dtype != self.buffer.dtype or end + new > self.buffer.shape[self.dim]:
            # To the start of a new buffer (larger if ``x`` does not fit, in
            # the precision of the frames it receives, e.g. the bfloat16
            # attention caches of the fast mode).
            frames = self.frames
            length = self.size + max(self.room, new)
            self.buffer = self._allocate(x, length)
            self.buffer.narrow(self.dim, 0, self.size).copy_(frames)
            self.start, end = 0, self.size
        self.buffer.narrow(self.dim, end, new).copy_(x)
        frames = self.buffer.narrow(self.dim, self.start, self.size + new)
        self.start += new
        return frames

    def replace(self, frames: Tensor, rows: Optional[Tensor] = None) -> None:
        """Overwrites the history of every stream, or of the streams in ``rows``.

        Arguments
        ---------
        frames : torch.Tensor
            New history (broadcastable to its shape).
        rows : torch.Tensor, optional
            ``[batch]`` bool mask of the streams to overwrite; None: all.

        Example
        -------
        >>> history = History(torch.zeros(2, 1, 1), dim=1)
        >>> history.replace(torch.ones(2, 1, 1), torch.tensor([False, True]))
        >>> history.frames.flatten().tolist()
        [0.0, 1.0]
        """
        current = self.frames
        if rows is not None:
            shape = [-1] + [1] * (current.ndim - 1)
            frames = torch.where(rows.view(shape), frames, current)
        current.copy_(frames)

    def snapshot(self) -> Tuple[Tensor, int]:
        """Where the history is now, for ``restore`` (e.g. if a step fails midway)."""
        return self.buffer, self.start

    def restore(self, snapshot: Tuple[Tensor, int]) -> None:
        """Takes the history back to a ``snapshot`` (rows that ``replace`` overwrote
        since then, i.e. streams that start anew, stay overwritten).

        Arguments
        ---------
        snapshot : tuple
            What ``snapshot`` returned.

        Example
        -------
        >>> history = History(torch.zeros(1, 2, 1), dim=1)
        >>> saved = history.snapshot()
        >>> _ = history.extend(torch.ones(1, 3, 1))
        >>> history.restore(saved)
        >>> history.frames.flatten().tolist()
        [0.0, 0.0]
        """
        self.buffer, self.start = snapshot

    def to(self, device: torch.device, dtype: torch.dtype) -> "History":
        """The history on ``device`` in ``dtype``.

        Arguments
        ---------
        device : torch.device
            Target device.
        dtype : torch.dtype
            Target floating point type.

        Returns
        -------
        history : History
            Itself if already there, else a new history (same room).

        Example
        -------
        >>> History(torch.zeros(1, 2, 1), dim=1).to(torch.device("cpu"), torch.float64).dtype
        torch.float64
        """
        if self.buffer.device == device and self.buffer.dtype == dtype:
            return self
        return History(self.frames.to(device, dtype), self.dim, self.room)
