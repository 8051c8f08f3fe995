"""Audio files of any length with constant memory: lazy reading (mixed to mono,
resampled piece by piece) and incremental writing; finding audio files in
folders and globs.

Authors
 * speechbrain-focalcodec developers 2026
"""

import glob
import math
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from speechbrain_focalcodec.audio import AudioError, check_audio_path, check_sample_rate, resample
from speechbrain_focalcodec.files import atomic_path

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioFileReader",
    "AudioFileWriter",
    "expand_inputs",
    "write_audio_file",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64")
# Containers of uncompressed samples, whose frame count libsndfile derives from the data
# size; other formats (MP3, Ogg, FLAC...) state counts that a file may contradict.
_EXACT_COUNT_FORMATS = ("WAV", "WAVEX", "W64", "RF64", "AIFF", "AU", "CAF")
_EXACT_COUNT_SUBTYPES = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
_COUNT_BLOCK = 1 << 16


class AudioFileReader:
    """Reads any span of an audio file as a mono waveform at ``sample_rate``.

    Only the requested span (plus a small margin for the resampling filter)
    is read, so an hour-long file costs no more memory than a second. Spans
    start on the resampling grid, so that reading piece by piece gives the
    samples that resampling the whole file gives (to float rounding). The
    length is what decodes, not what a header states: compressed files (MP3,
    Ogg, FLAC...) are decoded once, block by block, to count their samples.

    Arguments
    ---------
    path : str or Path
        Audio file (any format, rate, sample type and channel count that
        libsndfile reads; channels are averaged).
    sample_rate : int
        Rate of the returned samples.

    Example
    -------
    >>> reader = AudioFileReader("samples/voicebank-noisy-testset/p226_006.flac", 16000)
    >>> reader.file_sample_rate, reader.num_samples
    (48000, 81656)
    >>> reader.read(16000, 16100).shape
    torch.Size([100])
    """

    def __init__(self, path: Union[str, Path], sample_rate: int) -> None:
        self.path = Path(path)
        check_audio_path(self.path)
        try:
            info = sf.info(str(self.path))
        except Exception as error:  # libsndfile raises several types
            raise AudioError(f"Cannot read audio file {self.path}: {error}") from None
        check_sample_rate(info.samplerate, f"{self.path}: sample rate")
        check_sample_rate(sample_rate)
        frames = info.frames
        if info.format not in _EXACT_COUNT_FORMATS or info.subtype not in _EXACT_COUNT_SUBTYPES:
            frames = self._count_frames()
        if frames <= 0:
            raise AudioError(f"Audio file {self.path} has no samples")
        self.sample_rate = sample_rate
        self.file_sample_rate = info.samplerate
        self.num_frames = frames
        divisor = math.gcd(info.samplerate, sample_rate)
        self._file_unit = info.samplerate // divisor
        self._unit = sample_rate // divisor
        margin = max(256, 64 * info.samplerate // min(info.samplerate, sample_rate))
        self._margin = -(-margin // self._file_unit) * self._file_unit
        self.num_samples = math.ceil(frames * sample_rate / info.samplerate)

    def _count_frames(self) -> int:
        """Frames that decode (a header may state more, e.g. LAME MP3s)."""
        count = 0
        try:
            with sf.SoundFile(str(self.path)) as stream:
                while True:
                    read = stream.read(_COUNT_BLOCK, dtype="float32", always_2d=True).shape[0]
                    count += read
                    if read < _COUNT_BLOCK:
                        return count
        except Exception as error:  # libsndfile raises several types
            raise AudioError(f"Cannot read audio file {self.path}: {error}") from None

    def duration(self) -> float:
        """Duration in seconds."""
        return self.num_frames / self.file_sample_rate

    def _read_frames(self, start: int, stop: int) -> Tensor:
        try:
            with sf.SoundFile(str(self.path)) as stream:
                stream.seek(start)
                data = stream.read(stop - start, dtype="float32", always_2d=True)
        except Exception as error:  # libsndfile raises several types
            raise AudioError(f"Cannot read audio file {self.path}: {error}") from None
        sig = torch.from_numpy(np.ascontiguousarray(data)).mean(dim=1)
        if not bool(torch.isfinite(sig).all()):
            raise AudioError(f"Audio file {self.path} contains NaN or infinite samples")
        return sig

    def read(self, start: int = 0, stop: Optional[int] = None) -> Tensor:
        """Samples ``[start, stop)`` at ``sample_rate`` (clipped to the file).

        Arguments
        ---------
        start : int
            First sample.
        stop : int, optional
            End sample (exclusive); None reads to the end.

        Returns
        -------
        sig : torch.Tensor
            ``[stop - start]`` float32, mono.
        """
        stop = self.num_samples if stop is None else min(stop, self.num_samples)
        start = max(0, min(start, stop))
        if self._unit == self._file_unit:
            return self._read_frames(start, stop)
        block = start // self._unit
        first = max(0, block * self._file_unit - self._margin)
        last_block = -(-stop // self._unit)
        end = min(self.num_frames, last_block * self._file_unit + self._margin)
        sig = resample(self._read_frames(first, end), self.file_sample_rate, self.sample_rate)
        offset = first // self._file_unit * self._unit
        return sig[start - offset : stop - offset]


class AudioFileWriter:
    """Writes a mono waveform piece by piece.

    The samples go to a temporary file in the output's folder, renamed to
    ``path`` by ``close`` (or a ``with`` block that succeeds): a failure leaves
    no partial file, and concurrent writers of one path each leave a whole file.

    Arguments
    ---------
    path : str or Path
        Output file; the suffix picks the format (WAV: 16-bit PCM).
    sample_rate : int
        Rate of the samples.

    Example
    -------
    >>> path = getfixture("tmpdir") / "out.wav"
    >>> with AudioFileWriter(path, 16000) as writer:
    ...     writer.write(torch.zeros(800))
    ...     writer.write(torch.zeros(800))
    >>> AudioFileReader(path, 16000).num_samples
    1600
    """

    def __init__(self, path: Union[str, Path], sample_rate: int) -> None:
        self.path = Path(path)
        kind = self.path.suffix[1:].upper()
        kind = {"AIF": "AIFF", "OPUS": "OGG"}.get(kind, kind)
        if kind not in sf.available_formats():
            raise AudioError(f"Cannot write audio file {self.path}: unknown format {kind!r}")
        subtype = "OPUS" if self.path.suffix.lower() == ".opus" else None
        self._output = atomic_path(self.path)
        temporary = self._output.__enter__()
        try:
            self._file = sf.SoundFile(str(temporary), "w", sample_rate, 1, subtype, format=kind)
        except Exception as error:  # libsndfile raises several types
            self._output.__exit__(type(error), error, error.__traceback__)
            raise AudioError(f"Cannot write audio file {self.path}: {error}") from None
        self.num_samples = 0

    def write(self, sig: Tensor) -> None:
        """Appends samples (clipped to [-1, 1]).

        Arguments
        ---------
        sig : torch.Tensor
            ``[samples]``.
        """
        self._file.write(sig.detach().cpu().float().clamp(-1.0, 1.0).numpy())
        self.num_samples += sig.shape[-1]

    def close(self) -> None:
        """Finishes the file and moves it into place."""
        self._finish(None)

    def _finish(self, error: Optional[BaseException]) -> None:
        if self._file.closed:
            return
        close_error: Optional[Exception] = None
        try:
            self._file.close()
        except Exception as caught:  # libsndfile raises several types
            close_error = caught
        failure = error or close_error
        if failure is None:
            self._output.__exit__(None, None, None)
            return
        self._output.__exit__(type(failure), failure, failure.__traceback__)
        if error is None:
            raise AudioError(f"Cannot write audio file {self.path}: {close_error}") from None

    def __enter__(self) -> "AudioFileWriter":
        return self

    def __exit__(self, kind: object, error: Optional[BaseException], trace: object) -> None:
        self._finish(error)


def write_audio_file(path: Union[str, Path], sig: Tensor, sample_rate: int) -> None:
    """Writes a whole mono signal as ``AudioFileWriter`` does: clipped to [-1, 1],
    in the format of the suffix (WAV: 16-bit PCM), the file appearing whole or not
    at all.

    Arguments
    ---------
    path : str or Path
        Output file.
    sig : torch.Tensor
        ``[samples]``.
    sample_rate : int
        Rate of the samples.

    Example
    -------
    >>> path = getfixture("tmp_path") / "tone.wav"
    >>> write_audio_file(path, torch.zeros(1600), 16000)
    >>> AudioFileReader(path, 16000).num_samples
    1600
    """
    if sig.ndim != 1:
        shape = list(sig.shape)
        raise AudioError(f"Cannot write audio file {path}: expected [samples], got {shape}")
    with AudioFileWriter(path, sample_rate) as writer:
        writer.write(sig)


def expand_inputs(inputs: Sequence[str], suffixes: Sequence[str]) -> List[tuple]:
    """Files named by paths, folders (searched recursively) and glob patterns.

    Arguments
    ---------
    inputs : sequence of str
        Paths, folders or patterns.
    suffixes : sequence of str
        Suffixes of the files to pick inside folders and patterns.

    Returns
    -------
    files : list of (Path, Path)
        Each file and its path relative to the folder or pattern it came from
        (just its name for files), for naming outputs.

    Example
    -------
    >>> files = expand_inputs(["samples/voicebank-noisy-testset"], [".flac"])
    >>> [str(relative) for _, relative in files]
    ['p226_006.flac', 'p257_003.flac', 'p287_007.flac']
    """
    files: List[tuple] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes)
            files += [(p, p.relative_to(path)) for p in found if p.is_file()]
        elif path.is_file():
            files.append((path, Path(path.name)))
        elif glob.has_magic(item):
            found = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not found:
                raise FileNotFoundError(f"No file matches {item}")
            files += [(p, Path(p.name)) for p in found]
        else:
            raise FileNotFoundError(f"No such file or folder: {item}")
    return files
