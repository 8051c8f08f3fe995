"""Voice conversion on the decompressed features, offline or while streaming.

Both converters map the features that the decompressor produces (``qfeats``)
towards a target speaker before the decoder synthesizes them, frame by frame,
so they work on whole utterances and inside a ``StreamDecoder`` alike:

* ``KNNVoiceConverter`` (kNN-VC, Baas et al., https://arxiv.org/abs/2305.18975):
  each frame is replaced by the mean of its ``topk`` nearest neighbours, by
  cosine distance, in a matching set of target-speaker features;
* ``LinearTransportConverter``: the Monge-Kantorovich linear transport map
  between Gaussian fits of the source and target features,
  ``x -> mu_t + A (x - mu_s)`` with
  ``A = S_s^-1/2 (S_s^1/2 S_t S_s^1/2)^1/2 S_s^-1/2``; it needs no large
  matching set and moves the whole distribution rather than single frames.

Authors
 * speechbrain-focalcodec developers 2026
"""

from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "FrameConverter",
    "KNNVoiceConverter",
    "LinearTransportConverter",
    "knn",
    "knn_convert",
    "matching_set",
]


def _check_feats(x: Tensor, name: str, dim: Optional[int] = None) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"`{name}` must be floating point, got {x.dtype}")
    if x.ndim < 2 or x.shape[-2] == 0 or (dim is not None and x.shape[-1] != dim):
        want = f"[..., frames, {dim}]" if dim is not None else "[..., frames, dim]"
        raise ValueError(f"`{name}` must have shape {want} with frames > 0, got {list(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"`{name}` contains NaN or infinite values")


def knn(feats: Tensor, matching_set: Tensor, topk: int = 4, num_splits: int = 1) -> Tensor:
    """Nearest neighbours by cosine distance.

    Arguments
    ---------
    feats : torch.Tensor
        Queries, shape ``[..., dim]``.
    matching_set : torch.Tensor
        Candidates, shape ``[num_points, dim]``.
    topk : int
        Neighbours per query (at most ``num_points``).
    num_splits : int
        Search the matching set in this many parts (less memory, same result).

    Returns
    -------
    neighbours : torch.Tensor
        ``[..., topk, dim]``, nearest first.

    Example
    -------
    >>> matching_set = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> knn(torch.tensor([[0.9, 0.1]]), matching_set, topk=2)
    tensor([[[1., 0.],
             [1., 1.]]])
    """
    if topk < 1 or num_splits < 1:
        raise ValueError(f"`topk` and `num_splits` must be >= 1, got {topk} and {num_splits}")
    queries = nn.functional.normalize(feats.reshape(-1, feats.shape[-1]), dim=-1)
    candidates = nn.functional.normalize(matching_set, dim=-1)
    topk = min(topk, matching_set.shape[0])
    size = -(-matching_set.shape[0] // num_splits)
    best_dists, best_index = [], []
    for start in range(0, matching_set.shape[0], size):
        dists = 1.0 - queries @ candidates[start : start + size].T
        dists, index = dists.topk(min(topk, dists.shape[1]), dim=-1, largest=False)
        best_dists.append(dists)
        best_index.append(index + start)
    dists, index = torch.cat(best_dists, dim=-1), torch.cat(best_index, dim=-1)
    order = dists.topk(topk, dim=-1, largest=False).indices
    neighbours = matching_set[index.gather(1, order)]
    return neighbours.reshape(feats.shape[:-1] + (topk, feats.shape[-1]))


@torch.no_grad()
def matching_set(codec: nn.Module, sigs: Sequence[Tensor], kind: str = "feats") -> Tensor:
    """Target-speaker features of reference waveforms, frames concatenated.

    Arguments
    ---------
    codec : FocalCodec
        The codec.
    sigs : sequence of torch.Tensor
        Reference waveforms at ``sample_rate_input``, each ``[samples]``.
    kind : str
        ``"feats"`` (encoder features, as the official demo) or ``"qfeats"``
        (features after quantization, as the decoder sees them).

    Returns
    -------
    matching_set : torch.Tensor
        ``[frames, dim]``.
    """
    if kind not in ("feats", "qfeats"):
        raise ValueError(f"`kind` must be 'feats' or 'qfeats', got {kind!r}")
    if len(sigs) == 0:
        raise ValueError("voice conversion needs at least one reference utterance")
    transform = codec.sig_to_feats if kind == "feats" else codec.sig_to_qfeats
    frames: List[Tensor] = [transform(sig.reshape(1, -1))[0] for sig in sigs]
    return torch.cat(frames)


class FrameConverter(nn.Module):
    """Base of the converters: a checked frame-wise map of ``[batch, frames, dim]``."""

    dim: int

    def convert(self, qfeats: Tensor) -> Tensor:
        """Converts checked features (implemented by subclasses)."""
        raise NotImplementedError

    def forward(self, qfeats: Tensor) -> Tensor:
        """Converts features.

        Arguments
        ---------
        qfeats : torch.Tensor
            ``[batch, frames, dim]``.

        Returns
        -------
        qfeats : torch.Tensor
            Converted, same shape.
        """
        _check_feats(qfeats, "qfeats", self.dim)
        return self.convert(qfeats)


class KNNVoiceConverter(FrameConverter):
    """kNN-VC: every frame becomes the mean of its nearest target frames.

    Arguments
    ---------
    matching_set : torch.Tensor
        Target-speaker features, ``[num_points, dim]`` (see ``matching_set``).
    topk : int
        Neighbours averaged per frame.
    num_splits : int
        Search the matching set in parts (memory).

    Example
    -------
    >>> converter = KNNVoiceConverter(torch.randn(50, 8), topk=4)
    >>> converter(torch.randn(2, 10, 8)).shape
    torch.Size([2, 10, 8])
    """

    def __init__(self, matching_set: Tensor, topk: int = 4, num_splits: int = 1) -> None:
        super().__init__()
        _check_feats(matching_set, "matching_set")
        if matching_set.ndim != 2:
            raise ValueError(
                f"`matching_set` must be [num_points, dim], got {list(matching_set.shape)}"
            )
        if topk < 1 or num_splits < 1:
            raise ValueError(f"`topk` and `num_splits` must be >= 1, got {topk} and {num_splits}")
        self.register_buffer("matching_set", matching_set.detach().clone())
        self.topk = topk
        self.num_splits = num_splits

    @property
    def dim(self) -> int:
        """Feature size."""
        return self.matching_set.shape[1]

    def convert(self, qfeats: Tensor) -> Tensor:
        """Mean of the ``topk`` nearest neighbours of each frame."""
        neighbours = knn(qfeats, self.matching_set.to(qfeats.dtype), self.topk, self.num_splits)
        return neighbours.mean(dim=-2)


def knn_convert(
    feats: Tensor, matching_set: Optional[Tensor] = None, topk: int = 4, num_splits: int = 1
) -> Tensor:
    """The official ``matching_set=``/``topk=``/``num_splits=`` keywords of
    ``feats_to_sig``, ``toks_to_sig`` and ``codes_to_sig``: kNN-VC of ``feats``.

    Arguments
    ---------
    feats : torch.Tensor
        ``[batch, frames, dim]`` features about to be decoded.
    matching_set : torch.Tensor, optional
        Target-speaker features ``[num_points, dim]``; None leaves ``feats`` as they are.
    topk : int
        Neighbours averaged per frame.
    num_splits : int
        Search the matching set in parts (memory).

    Returns
    -------
    feats : torch.Tensor
        Each frame replaced by the mean of its ``topk`` nearest neighbours.

    Example
    -------
    >>> feats = torch.randn(1, 5, 8)
    >>> knn_convert(feats) is feats
    True
    >>> knn_convert(feats, torch.ones(3, 8), topk=2)[0, 0]
    tensor([1., 1., 1., 1., 1., 1., 1., 1.])
    """
    if matching_set is None:
        return feats
    if not isinstance(matching_set, Tensor):
        raise TypeError(f"`matching_set` must be a torch.Tensor, got {type(matching_set).__name__}")
    if matching_set.ndim != 2 or matching_set.shape[-1] != feats.shape[-1]:
        raise ValueError(
            f"`matching_set` must have shape [num_points, {feats.shape[-1]}] (the features "
            f"being decoded), got {list(matching_set.shape)}"
        )
    matching_set = matching_set.to(device=feats.device, dtype=feats.dtype)
    return KNNVoiceConverter(matching_set, topk, num_splits)(feats)


def _gaussian(feats: Tensor, regularization: float, name: str) -> tuple:
    x = feats.reshape(-1, feats.shape[-1]).double()
    if x.shape[0] < 2:
        raise ValueError(f"`{name}`: a Gaussian fit needs at least 2 frames, got {x.shape[0]}")
    mean = x.mean(dim=0)
    centered = x - mean
    cov = centered.T @ centered / (x.shape[0] - 1)
    # Shrinkage keeps the covariance invertible with fewer frames than dimensions.
    scale = cov.diagonal().mean().clamp(min=1e-12)
    cov = cov + regularization * scale * torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    return mean, cov


def _sqrtm(matrix: Tensor, inverse: bool = False) -> Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    values = values.clamp(min=1e-12)
    roots = values.rsqrt() if inverse else values.sqrt()
    return (vectors * roots) @ vectors.T


class LinearTransportConverter(FrameConverter):
    """Monge-Kantorovich linear transport between Gaussian fits of two speakers.

    Arguments
    ---------
    source_feats : torch.Tensor
        Features of the source speaker, ``[..., frames, dim]`` (for an
        offline conversion, the utterance's own decompressed features).
    target_feats : torch.Tensor
        Features of the target speaker, ``[..., frames, dim]``.
    regularization : float
        Ridge added to both covariances, relative to their mean variance.

    Example
    -------
    >>> source, target = torch.randn(400, 4), 3.0 + 2.0 * torch.randn(400, 4)
    >>> converted = LinearTransportConverter(source, target)(source[None])[0]
    >>> bool((converted.mean(0) - target.mean(0)).abs().max() < 1e-3)
    True
    >>> bool((converted.std(0) / target.std(0) - 1).abs().max() < 0.05)
    True
    """

    def __init__(
        self, source_feats: Tensor, target_feats: Tensor, regularization: float = 1e-3
    ) -> None:
        super().__init__()
        _check_feats(source_feats, "source_feats")
        _check_feats(target_feats, "target_feats", source_feats.shape[-1])
        source_mean, source_cov = _gaussian(source_feats, regularization, "source_feats")
        target_mean, target_cov = _gaussian(target_feats, regularization, "target_feats")
        root = _sqrtm(source_cov)
        inverse_root = _sqrtm(source_cov, inverse=True)
        transport = inverse_root @ _sqrtm(root @ target_cov @ root) @ inverse_root
        dtype = source_feats.dtype
        self.register_buffer("source_mean", source_mean.to(dtype))
        self.register_buffer("target_mean", target_mean.to(dtype))
        self.register_buffer("transport", transport.to(dtype))

    @property
    def dim(self) -> int:
        """Feature size."""
        return self.transport.shape[0]

    def convert(self, qfeats: Tensor) -> Tensor:
        """Applies the transport map to every frame."""
        return self.target_mean + (qfeats - self.source_mean) @ self.transport.T
