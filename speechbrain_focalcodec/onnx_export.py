"""ONNX export of the encoder (waveform -> tokens) and decoder (tokens ->
waveform), with onnxruntime runners.

* Offline codecs: ``encoder.onnx`` (``sig [batch, samples] -> toks``) and
  ``decoder.onnx`` (``toks [batch, tokens] -> sig``), dynamic batch and
  length. The Vocos inverse STFT exports as products with the inverse FFT
  bases and an overlap-add transposed convolution (ONNX has no complex
  tensors; ``lobes.vocos.ISTFT`` chooses these operators when traced).
* Causal codecs: ``encoder_stream.onnx`` (``sig [batch, chunk_size]`` plus
  the state -> ``toks [batch, 4]`` plus the new state) and
  ``decoder_stream.onnx`` (``toks [batch, 4]`` plus the state -> ``sig``
  plus the new state). The state (``state.*`` inputs, ``new_state.*``
  outputs, see ``speechbrain_focalcodec.lobes.streaming``) of a fresh stream
  is all zeros: its ``step`` counters tell the graph to pad the first chunk
  as PyTorch does, so the first chunk matches too.

Uses the TorchScript-based exporter (``dynamo=False``), which needs no
extra package; ``pip install speechbrain-focalcodec[onnx]`` adds onnx and
onnxruntime.

Authors
 * speechbrain-focalcodec developers 2026
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.files import atomic_path
from speechbrain_focalcodec.streaming import DecoderStep, EncoderStep

__all__ = ["OnnxStream", "export_onnx", "onnx_session"]

OPSET = 17


class _OfflineEncoder(nn.Module):
    """The exported encoder graph: waveform -> tokens of a non-causal codec.

    Arguments
    ---------
    codec : FocalCodec
        The codec whose encoder, compressor and quantizer are traced.
    """

    def __init__(self, codec: nn.Module) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, sig: Tensor) -> Tensor:
        """Waveforms ``[B, samples]`` -> tokens ``[B, tokens]``.

        Arguments
        ---------
        sig : torch.Tensor
            Waveforms at the codec's input rate.

        Returns
        -------
        toks : torch.Tensor
        """
        feats = self.codec.encoder(sig)[0]
        lats = nn.functional.normalize(self.codec.compressor(feats)[0], dim=-1)
        return self.codec.quantizer.lats_to_toks(lats)


class _OfflineDecoder(nn.Module):
    """The exported decoder graph: tokens -> waveform of a non-causal codec.

    Tokens are looked up in a copy of the codebook (an ONNX ``Gather``); the Vocos
    inverse STFT traces with real-valued operators (see ``lobes.vocos.ISTFT``).

    Arguments
    ---------
    codec : FocalCodec
        The codec whose decompressor and decoder are traced.
    """

    def __init__(self, codec: nn.Module) -> None:
        super().__init__()
        self.codec = codec
        self.register_buffer("codebook", codec.codebook.clone())

    def forward(self, toks: Tensor) -> Tensor:
        """Tokens ``[B, tokens]`` -> waveforms ``[B, samples]``.

        Arguments
        ---------
        toks : torch.Tensor
            Integer tokens.

        Returns
        -------
        sig : torch.Tensor
            Waveforms at the codec's output rate.
        """
        codes = nn.functional.embedding(toks, self.codebook)
        return self.codec.decoder(self.codec.decompressor(codes)[0])[0]


class _StreamGraph(nn.Module):
    """A streaming step with its state as separate inputs and outputs."""

    def __init__(self, step: nn.Module) -> None:
        super().__init__()
        self.step = step

    def forward(self, x: Tensor, *state: Tensor) -> List[Tensor]:
        y, new_state = self.step(x, list(state))
        return [y] + new_state


def _export(module: nn.Module, args: tuple, path: Path, inputs: list, outputs: list, axes) -> None:
    with atomic_path(path) as temporary:  # a failed export leaves no partial graph
        torch.onnx.export(
            module,
            args,
            str(temporary),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


@torch.no_grad()
def export_onnx(codec: nn.Module, directory: Union[str, Path]) -> Dict[str, Path]:
    """Exports the encoder and the decoder of a codec.

    Arguments
    ---------
    codec : FocalCodec
        The codec (in eval mode, on the CPU).
    directory : str or Path
        Output folder (created if needed).

    Returns
    -------
    paths : dict
        ``{"encoder": ..., "decoder": ...}``: offline graphs for offline
        codecs, streaming graphs (``*_stream.onnx``) for causal ones.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> paths = export_onnx(tiny_codec("causal"), getfixture("tmpdir"))
    >>> sorted(path.name for path in paths.values())
    ['decoder_stream.onnx', 'encoder_stream.onnx']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    codec = codec.eval()
    if not codec.causal:
        paths = {"encoder": directory / "encoder.onnx", "decoder": directory / "decoder.onnx"}
        sig = torch.randn(1, 4 * codec.sample_rate_input)
        time_axes = {0: "batch", 1: "time"}
        _export(
            _OfflineEncoder(codec),
            (sig,),
            paths["encoder"],
            ["sig"],
            ["toks"],
            {"sig": time_axes, "toks": {0: "batch", 1: "tokens"}},
        )
        toks = torch.randint(0, codec.codebook_size, (1, 50))
        _export(
            _OfflineDecoder(codec),
            (toks,),
            paths["decoder"],
            ["toks"],
            ["sig"],
            {"toks": {0: "batch", 1: "tokens"}, "sig": time_axes},
        )
        return paths
    paths = {
        "encoder": directory / "encoder_stream.onnx",
        "decoder": directory / "decoder_stream.onnx",
    }
    tokens = codec.chunk_size // codec.samples_per_token
    for kind, step, x, name, out in (
        ("encoder", EncoderStep(codec), torch.randn(2, codec.chunk_size), "sig", "toks"),
        ("decoder", DecoderStep(codec), torch.randint(0, 2, (2, tokens)), "toks", "sig"),
    ):
        state = step.initial_state(2)
        names = step.state_names()
        inputs = [name] + [f"state.{n}" for n in names]
        outputs = [out] + [f"new_state.{n}" for n in names]
        axes = {key: {0: "batch"} for key in inputs + outputs}
        _export(_StreamGraph(step), (x, *state), paths[kind], inputs, outputs, axes)
    return paths


def onnx_session(path: Union[str, Path], threads: int = 0):
    """An onnxruntime inference session on the CPU.

    Arguments
    ---------
    path : str or Path
        ONNX file.
    threads : int
        Intra-op threads (0: onnxruntime's default).

    Returns
    -------
    session : onnxruntime.InferenceSession
    """
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "onnxruntime is not installed: pip install speechbrain-focalcodec[onnx]"
        ) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxStream:
    """Runs an exported streaming graph chunk by chunk, keeping its state.

    Arguments
    ---------
    path : str or Path
        ``encoder_stream.onnx`` or ``decoder_stream.onnx``.
    batch_size : int
        Number of independent streams.
    threads : int
        Intra-op threads (0: onnxruntime's default).
    """

    def __init__(self, path: Union[str, Path], batch_size: int = 1, threads: int = 0) -> None:

        self.session = onnx_session(path, threads)
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.chunk = inputs[0].shape[1]
        self.state_names = [item.name for item in inputs[1:]]
        self.output_names = [item.name for item in self.session.get_outputs()]
        self.batch_size = batch_size
        self._inputs = inputs[1:]
        self.state = {}
        self.reset()

    def reset(self, slots: Optional[Sequence[int]] = None) -> None:
        """Starts new streams in every slot, or only in ``slots`` (the others go on).

        A slot whose state is all zeros (its ``step`` counter included) is a
        fresh stream for the graph.

        Arguments
        ---------
        slots : sequence of int, optional
            Slots to restart; None restarts them all.
        """
        import numpy as np

        if slots is None:
            for item in self._inputs:
                dtype = np.int64 if item.type == "tensor(int64)" else np.float32
                shape = [self.batch_size] + list(item.shape[1:])
                self.state[item.name] = np.zeros(shape, dtype=dtype)
            return
        rows = list(slots)
        if any(not 0 <= row < self.batch_size for row in rows):
            raise IndexError(f"stream index out of range [0, {self.batch_size}): {rows}")
        for name, value in self.state.items():
            value = value.copy()
            value[rows] = 0
            self.state[name] = value

    def __call__(self, x: Tensor) -> Tensor:
        """Processes one chunk ``[batch_size, chunk]`` and returns the output."""
        feed = {self.input_name: x.numpy(), **self.state}
        outputs = self.session.run(self.output_names, feed)
        self.state = dict(zip(self.state_names, outputs[1:]))
        return torch.from_numpy(outputs[0])
