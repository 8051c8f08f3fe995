"""The ``focalcodec`` command line: encode, decode, resynthesize, convert,
stream and inspect; evaluate and extract tokens for datasets.

Examples::

    focalcodec encode --model lucadellalib/focalcodec_50hz in.wav out.fcz
    focalcodec decode --model lucadellalib/focalcodec_50hz out.fcz out.wav
    focalcodec encode --model M "recordings/**/*.flac" tokens/     # folders and globs
    focalcodec convert --model M --reference target_speaker/ --reference b.wav in.wav out.wav
    focalcodec stream --model lucadellalib/focalcodec_50hz_4k_causal in.wav --output out.wav
    focalcodec info --model M [token files...]
    focalcodec evaluate samples/librispeech-dev-clean --model M --output evaluation
    focalcodec extract-tokens --help

``evaluate`` and ``extract-tokens`` are the ``focalcodec-evaluate`` and
``focalcodec-extract-tokens`` commands under one name (their own options).

``--model`` takes a Hugging Face id or a local directory (config.json and
model.safetensors). Every subcommand shares one option vocabulary
(``speechbrain_focalcodec.command_line``). Existing outputs are kept unless
``--force``; an output that is an input, or two inputs writing one output, are
refused before anything is written. Any error prints one line and exits with
status 1 (2 for command-line usage errors); ``--debug`` shows the traceback.

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.audio_files import (
    AUDIO_SUFFIXES,
    AudioFileReader,
    AudioFileWriter,
    expand_inputs,
)
from speechbrain_focalcodec.bitstream import (
    BITSTREAM_SUFFIX,
    check_model,
    load_tokens,
    model_fingerprint,
    printable,
    read_header,
    save_tokens,
)
from speechbrain_focalcodec.command_line import (
    PROG,
    CommandError,
    add_common_options,
    add_option,
    check_outputs,
    expected,
    non_negative_seconds,
    parse,
    positive_int,
    positive_seconds,
    report,
    run_command,
    usage_status,
)
from speechbrain_focalcodec.long_audio import iter_decode, iter_encode
from speechbrain_focalcodec.voice_conversion import (
    KNNVoiceConverter,
    LinearTransportConverter,
    matching_set,
)

__all__ = ["build_parser", "main"]

TOKEN_SUFFIXES = (BITSTREAM_SUFFIX, ".npy", ".pt")


def _evaluate(argv: Sequence[str]) -> int:
    from speechbrain_focalcodec.evaluation.evaluate import main as evaluate_main

    return evaluate_main(argv, prog=f"{PROG} evaluate")


def _extract_tokens(argv: Sequence[str]) -> int:
    from speechbrain_focalcodec.extraction import main as extraction_main

    return extraction_main(argv, prog=f"{PROG} extract-tokens")


# Subcommands with their own parsers, imported only when used.
DELEGATED = {
    "evaluate": (_evaluate, "paper metrics of models on a folder or manifest of speech"),
    "extract-tokens": (_extract_tokens, "tokens of a dataset manifest, resumable and shardable"),
}


# ------------------------------------------------------------------ helpers
def _load_codec(args: argparse.Namespace) -> nn.Module:
    from huggingface_hub.utils import logging as hub_logging

    from speechbrain_focalcodec.codec import FocalCodec

    hub_logging.set_verbosity_error()
    codec = FocalCodec.from_pretrained(args.model)
    return codec.to(args.device).eval()


def _plan(
    args: argparse.Namespace, suffixes: Sequence[str], suffix: str
) -> List[Tuple[Path, Path]]:
    """(input, output) pairs: one file to one file, or many files into a folder;
    checked (``command_line.check_outputs``) before anything is written."""
    files = expand_inputs(args.inputs, suffixes)
    if not files:
        raise CommandError(f"no input files with suffix {', '.join(suffixes)} found")
    out = Path(args.output)
    single = len(args.inputs) == 1 and Path(args.inputs[0]).is_file()
    if single and out.suffix and not out.is_dir():
        return check_outputs([(files[0][0], out)], args.force)
    if out.is_file() or (len(files) > 1 and out.suffix.lower() == suffix):
        raise CommandError(f"{len(files)} inputs need an output folder, not the file {out}")
    pairs = [(path, out / relative.with_suffix(suffix)) for path, relative in files]
    return check_outputs(pairs, args.force)


def _run_all(
    pairs: List[tuple], work: Callable[[Path, Path], None], args: argparse.Namespace
) -> int:
    """Runs ``work`` on every pair with a progress bar; errors are one line each."""
    from tqdm import tqdm

    failures = 0
    # One file: a bar over its segments, when it has several.
    args.segment_progress = len(pairs) == 1 and not args.quiet
    bar = tqdm(pairs, unit="file", disable=args.quiet or len(pairs) < 2, file=sys.stderr)
    for source, target in bar:
        try:
            work(source, target)
        except Exception as error:
            if args.debug or not expected(error):
                raise
            failures += 1
            message = str(error)
            report(message if str(source) in message else f"{source}: {message}")
    if failures and len(pairs) > 1:
        report(f"{failures} of {len(pairs)} files failed")
    return 1 if failures else 0


def _progress(
    pieces: Iterable[Tensor], seconds: float, seconds_of: Callable[[Tensor], float], show: bool
) -> Iterator[Tensor]:
    """``pieces``, with a bar in seconds of audio when ``show`` (one long file)."""
    if not show:
        yield from pieces
        return
    from tqdm import tqdm

    with tqdm(total=round(seconds, 1), unit="s", file=sys.stderr, leave=False) as bar:
        for piece in pieces:
            bar.update(round(seconds_of(piece), 1))
            yield piece


def _write(path: Path, pieces: Iterable[Tensor], sample_rate: int, length: Optional[int]) -> None:
    """Writes consecutive pieces, cut or extended (last sample repeated) to ``length``."""
    with AudioFileWriter(path, sample_rate) as writer:
        last = torch.zeros(1)
        for piece in pieces:
            if length is not None:
                piece = piece[: length - writer.num_samples]
            if piece.numel():
                writer.write(piece)
                last = piece[-1:]
        if length is not None and writer.num_samples < length:
            writer.write(last.expand(length - writer.num_samples))


def _encode_file(codec: nn.Module, path: Path, args: argparse.Namespace) -> Tuple[Tensor, int]:
    reader = AudioFileReader(path, codec.sample_rate_input)

    def read(start: int, stop: int) -> Tensor:
        return reader.read(start, stop).to(args.device)

    pieces = iter_encode(codec, read, reader.num_samples, args.segment, args.context)
    show = getattr(args, "segment_progress", False) and reader.duration() > args.segment
    pieces = _progress(pieces, reader.duration(), lambda t: t.shape[1] / codec.token_rate, show)
    return torch.cat(list(pieces), dim=1), reader.num_samples


def _output_length(codec: nn.Module, num_samples: int) -> int:
    return int(num_samples * codec.sample_rate_output / codec.sample_rate_input)


def _decode_pieces(codec: nn.Module, toks: Tensor, args: argparse.Namespace, converter=None):
    pieces = iter_decode(codec, toks, args.segment, args.context, converter=converter)
    rate = codec.sample_rate_output
    seconds = toks.shape[1] / codec.token_rate
    show = getattr(args, "segment_progress", False) and seconds > args.segment
    return _progress(pieces, seconds, lambda sig: sig.shape[-1] / rate, show)


# ----------------------------------------------------------------- commands
def _cmd_encode(args: argparse.Namespace) -> int:
    suffix = f".{args.format}"
    pairs = _plan(args, AUDIO_SUFFIXES, suffix)
    codec = _load_codec(args)

    def work(source: Path, target: Path) -> None:
        toks, num_samples = _encode_file(codec, source, args)
        save_tokens(target, toks.cpu(), codec, num_samples, model_name=args.model)

    return _run_all(pairs, work, args)


def _cmd_decode(args: argparse.Namespace) -> int:
    pairs = _plan(args, TOKEN_SUFFIXES, ".wav")
    codec = _load_codec(args)

    def work(source: Path, target: Path) -> None:
        token_file = load_tokens(source, codec)
        toks = token_file.toks.to(args.device)
        if toks.shape[0] != 1:
            batch = toks.shape[0]
            raise CommandError(f"holds a batch of {batch} sequences; save them one per file")
        length = _output_length(codec, token_file.num_samples) if token_file.num_samples else None
        _write(target, _decode_pieces(codec, toks, args), codec.sample_rate_output, length)

    return _run_all(pairs, work, args)


def _cmd_resynth(args: argparse.Namespace) -> int:
    pairs = _plan(args, AUDIO_SUFFIXES, ".wav")
    codec = _load_codec(args)

    def work(source: Path, target: Path) -> None:
        toks, num_samples = _encode_file(codec, source, args)
        length = _output_length(codec, num_samples)
        _write(target, _decode_pieces(codec, toks, args), codec.sample_rate_output, length)

    return _run_all(pairs, work, args)


def _reference_set(codec: nn.Module, args: argparse.Namespace) -> Tensor:
    """The target speaker's frames, from every ``--reference`` (read once per command)."""
    references = expand_inputs(args.reference, AUDIO_SUFFIXES)
    if not references:
        raise CommandError("no reference audio files found")
    sigs = [load_audio(path, codec.sample_rate_input).to(args.device) for path, _ in references]
    target = matching_set(codec, sigs, args.matching)
    if args.method == "transport" and target.shape[0] < 2:
        raise CommandError(
            f"the references give {target.shape[0]} frame; the transport method needs at "
            "least 2 frames of the target speaker (longer references)"
        )
    return target


def _transport(codec: nn.Module, source_toks: Tensor, target: Tensor, segment: float):
    """Linear transport from the source file's decompressed frames to ``target``."""
    if source_toks.shape[1] < 2:
        raise CommandError(
            f"the source gives {source_toks.shape[1]} frame; the transport method needs at "
            "least 2 frames of the source speaker"
        )
    # Source statistics from (at most ~20000) decompressed frames of the source.
    step = max(1, source_toks.shape[1] // 20000)
    length = max(4, round(segment * codec.token_rate))
    frames = [
        codec.toks_to_qfeats(source_toks[:, start : start + length])[0, ::step]
        for start in range(0, source_toks.shape[1], length)
    ]
    return LinearTransportConverter(torch.cat(frames), target)


def _cmd_convert(args: argparse.Namespace) -> int:
    pairs = _plan(args, AUDIO_SUFFIXES, ".wav")
    codec = _load_codec(args)
    target = _reference_set(codec, args)
    knn = KNNVoiceConverter(target, topk=args.topk) if args.method == "knn" else None

    def work(source: Path, target_path: Path) -> None:
        toks, num_samples = _encode_file(codec, source, args)
        converter = knn if knn is not None else _transport(codec, toks, target, args.segment)
        pieces = _decode_pieces(codec, toks, args, converter)
        _write(target_path, pieces, codec.sample_rate_output, _output_length(codec, num_samples))

    with torch.no_grad():
        return _run_all(pairs, work, args)


def _cmd_stream(args: argparse.Namespace) -> int:
    codec = _load_codec(args)
    if not codec.causal:
        raise CommandError(
            f"{args.model} is not a causal model; streaming needs FocalCodec-Stream "
            "(e.g. lucadellalib/focalcodec_50hz_4k_causal)"
        )
    if args.output:
        check_outputs([(Path(args.input), Path(args.output))], args.force)
    reader = AudioFileReader(args.input, codec.sample_rate_input)
    converter = None
    if args.reference:
        converter = KNNVoiceConverter(_reference_set(codec, args), topk=args.topk)
    encoder = codec.stream_encoder()
    decoder = codec.stream_decoder(converter=converter)
    step = codec.chunk_size * args.chunks
    latencies: List[float] = []
    pieces: List[Tensor] = []
    for start in range(0, reader.num_samples, step):
        chunk = reader.read(start, start + step)[None].to(args.device)
        began = time.perf_counter()
        final = chunk.shape[1] < step or start + step >= reader.num_samples
        if final:
            sig = decoder.flush(encoder.flush(chunk))
        else:
            sig = decoder(encoder(chunk))
        latencies.append(1000.0 * (time.perf_counter() - began))
        pieces.append(sig[0].cpu())
    if args.output:
        length = _output_length(codec, reader.num_samples)
        _write(Path(args.output), pieces, codec.sample_rate_output, length)
    chunk_ms = 1000.0 * step / codec.sample_rate_input
    ordered = sorted(latencies)
    print(
        f"{len(latencies)} chunks of {chunk_ms:.0f} ms; compute per chunk (encode + decode): "
        f"mean {statistics.mean(latencies):.1f} ms, median {statistics.median(latencies):.1f} "
        f"ms, p95 {ordered[int(0.95 * (len(ordered) - 1))]:.1f} ms, max {ordered[-1]:.1f} ms; "
        f"real-time factor {sum(latencies) / (reader.duration() * 1000.0):.3f}; "
        f"latency = {codec.latency:.0f} ms algorithmic + compute"
    )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    codec = _load_codec(args) if args.model else None
    if codec is not None:
        params = sum(p.numel() for p in codec.state_dict().values()) / 1e6
        latency = f"{codec.latency:.0f} ms" if codec.causal else "offline (not causal)"
        rows = [
            ("model", args.model),
            ("causal", "yes" if codec.causal else "no"),
            ("sample rate in / out", f"{codec.sample_rate_input} / {codec.sample_rate_output} Hz"),
            ("token rate", f"{codec.token_rate:g} Hz"),
            ("codebook", f"{codec.codebook_size} ({codec.code_dim} bits per token)"),
            ("bitrate", f"{codec.bitrate:g} bit/s"),
            ("parameters", f"{params:.1f} M"),
            ("latency", latency),
            ("fingerprint", model_fingerprint(codec).hex()),
        ]
        if codec.causal:
            rows.insert(-1, ("chunk", f"{codec.chunk_size} samples"))
        for name, value in rows:
            print(f"{name:>22}: {value}")
    for path, _ in expand_inputs(args.files, TOKEN_SUFFIXES):
        if path.suffix in (".npy", ".pt"):
            token_file = load_tokens(path, codec)
        else:  # the header only: constant memory whatever the file
            token_file = read_header(path)
            if codec is not None:
                check_model(path, token_file, codec)
        line = f"{path}: {token_file.num_tokens} tokens"
        if token_file.fingerprint:
            seconds = token_file.num_samples / token_file.sample_rate_input
            line += (
                f", {seconds:.2f} s at {token_file.sample_rate_input} Hz, "
                f"{token_file.bits_per_token} bits per token, model "
                f"'{printable(token_file.model_name)}' ({token_file.fingerprint.hex()})"
            )
        print(line)
    if codec is None and not args.files:
        raise CommandError("give --model and/or token files")
    return 0


# ------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``focalcodec``.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="FocalCodec low-bitrate speech codec (SpeechBrain)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, model: str = "required", force: bool = True):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_common_options(sub, model=model, force=force)
        return sub

    def long_audio(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--segment",
            type=positive_seconds,
            default=20.0,
            help="seconds per segment (default: 20)",
        )
        sub.add_argument(
            "--context",
            type=non_negative_seconds,
            default=5.0,
            help="seconds of context around segments of offline models (default: 5)",
        )

    def io(sub: argparse.ArgumentParser, what: str) -> None:
        sub.add_argument("inputs", nargs="+", help=f"{what} files, folders or glob patterns")
        sub.add_argument("output", help="output file (one input) or folder")

    sub = command("encode", "audio -> token file (.fcz bitstream, .npy or .pt)")
    io(sub, "audio")
    sub.add_argument(
        "--format",
        choices=["fcz", "npy", "pt"],
        default="fcz",
        help="token format when writing into a folder (default: fcz)",
    )
    long_audio(sub)
    sub.set_defaults(run=_cmd_encode)

    sub = command("decode", "token file -> audio")
    io(sub, "token")
    long_audio(sub)
    sub.set_defaults(run=_cmd_decode)

    sub = command("resynth", "audio -> tokens -> audio")
    io(sub, "audio")
    long_audio(sub)
    sub.set_defaults(run=_cmd_resynth)

    def conversion(sub: argparse.ArgumentParser, streaming: bool) -> None:
        sub.add_argument(
            "--reference",
            action="append",
            required=not streaming,
            help="target speaker audio file, folder or glob pattern (repeat for more)",
        )
        # The transport map needs the statistics of the whole source: offline only.
        sub.add_argument(
            "--method",
            choices=["knn"] if streaming else ["knn", "transport"],
            default="knn",
            help="kNN-VC"
            + ("" if streaming else " or linear optimal transport")
            + " (default: knn)",
        )
        sub.add_argument("--topk", type=positive_int, default=4, help="kNN neighbours (default: 4)")
        sub.add_argument(
            "--matching",
            choices=["feats", "qfeats"],
            default="feats",
            help="features of the references: encoder or decompressed (default: feats)",
        )

    sub = command("convert", "voice conversion towards reference recordings")
    io(sub, "audio")
    conversion(sub, streaming=False)
    long_audio(sub)
    sub.set_defaults(run=_cmd_convert)

    sub = command("stream", "chunk-by-chunk round trip with a causal model, with latency")
    sub.add_argument("input", help="audio file")
    sub.add_argument("--output", help="write the streamed reconstruction here")
    add_option(sub, "--chunks", type=positive_int, default=1, help="chunks per step (default: 1)")
    conversion(sub, streaming=True)
    sub.set_defaults(run=_cmd_stream)

    sub = command(
        "info", "model rates, codebook, bitrate, size; token file headers", "optional", False
    )
    sub.add_argument("files", nargs="*", help="token files to describe")
    sub.set_defaults(run=_cmd_info)

    for name, (_, help_text) in DELEGATED.items():  # listed in --help; parsed in main
        commands.add_parser(name, help=f"{help_text} (see: {PROG} {name} --help)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line.

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 on error, 2 on usage error, 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return DELEGATED[argv[0]][0](argv[1:])
    parser = build_parser()
    status, args = usage_status(lambda: parse(parser, argv))
    if args is None:
        return status

    def work(args: argparse.Namespace) -> int:
        with torch.no_grad():
            return args.run(args)

    return run_command(work, args)


if __name__ == "__main__":
    sys.exit(main())
