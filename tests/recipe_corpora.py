"""Tiny copies of the recipes' corpora, in their real folder layouts, made
from the bundled speech.

The bundled LibriSpeech utterances are cut into short clips; labels the
bundle does not have are made up: transcripts are short pangram-like texts
(they cover every character of LibriSpeech), emotions are assigned in turn,
noisy VoiceBank files are clean clips plus Gaussian noise at 5 dB SNR and
Libri2Mix mixtures are sums of two clips.
"""

from pathlib import Path
from typing import Dict, List, Tuple

import soundfile
import torch
import torchaudio

from speechbrain_focalcodec.audio import load_audio
from tests.conftest import SAMPLES

CLIP_SECONDS = 1.2
SAMPLE_RATE = 16000

TEXTS = [
    "THE QUICK BROWN FOX",
    "JUMPS OVER THE LAZY DOG",
    "PACK MY BOX WITH FIVE",
    "DOZEN LIQUOR JUGS",
    "IT'S A VERY ZESTY WALTZ",
    "GLIB JOCKS QUIZ NYMPH",
    "HOW VEXINGLY QUICK",
    "DAFT ZEBRAS JUMP",
    "SPHINX OF BLACK QUARTZ",
    "JUDGE MY VOW",
    "WE PROMPTLY JUDGED",
    "ANTIQUE IVORY BUCKLES",
]


def clips() -> Dict[str, List[torch.Tensor]]:
    """Speaker -> clips of ``CLIP_SECONDS`` (speaker 84: one per utterance;
    speaker 251: consecutive pieces of its single utterance)."""
    size = int(CLIP_SECONDS * SAMPLE_RATE)
    start = int(0.3 * SAMPLE_RATE)  # past the leading silence
    speaker_84 = [
        load_audio(SAMPLES / "librispeech-dev-clean" / f"84-121123-{i:04d}.flac", SAMPLE_RATE)
        for i in range(6)
    ]
    speaker_251 = load_audio(
        SAMPLES / "librispeech-dev-clean" / "251-118436-0003.flac", SAMPLE_RATE
    )
    return {
        "84": [sig[start : start + size] for sig in speaker_84],
        "251": [speaker_251[start + i * size : start + (i + 1) * size] for i in range(6)],
    }


def _write(path: Path, sig: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if sample_rate != SAMPLE_RATE:
        sig = torchaudio.functional.resample(sig, SAMPLE_RATE, sample_rate)
    soundfile.write(str(path), sig.numpy(), sample_rate, subtype="PCM_16")


def librispeech(root: Path) -> Path:
    """``LibriSpeech/{train-clean-100,dev-clean,test-clean}`` with made-up
    transcripts: 4 + 1 + 1 clips of each of speakers 84 and 251 (rewritten, not
    appended to, when called again on the same root)."""
    folder = root / "LibriSpeech"
    chapters = {"84": "121123", "251": "118436"}
    layout = {"train-clean-100": range(4), "dev-clean": [4], "test-clean": [5]}
    text = iter(TEXTS)
    for speaker, speaker_clips in clips().items():
        chapter = chapters[speaker]
        for split, indices in layout.items():
            directory = folder / split / speaker / chapter
            lines = []
            for index in indices:
                utt_id = f"{speaker}-{chapter}-{index:04d}"
                _write(directory / f"{utt_id}.flac", speaker_clips[index])
                lines.append(f"{utt_id} {next(text, 'SHORT TEXT')}")
            with open(directory / f"{speaker}-{chapter}.trans.txt", "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
    return folder


def iemocap(root: Path) -> Path:
    """``IEMOCAP/Session{1..5}``: two labelled utterances per session (one by
    each speaker), emotions taken in turn, plus one unused ``xxx`` label."""
    folder = root / "IEMOCAP"
    emotions = ["neu", "hap", "sad", "ang"]
    pool = [clip for speaker_clips in clips().values() for clip in speaker_clips]
    index = 0
    for session in range(1, 6):
        dialog = f"Ses0{session}F_impro01"
        lines = []
        for speaker in ("F", "M"):
            utt_id = f"{dialog}_{speaker}000"
            _write(
                folder / f"Session{session}" / "sentences" / "wav" / dialog / f"{utt_id}.wav",
                pool[index],
            )
            lines.append(f"[0.0 - 1.2]\t{utt_id}\t{emotions[index % 4]}\t[2.5, 2.5, 2.5]")
            index += 1
        unused = f"{dialog}_F001"
        _write(
            folder / f"Session{session}" / "sentences" / "wav" / dialog / f"{unused}.wav",
            pool[index],
        )
        lines.append(f"[0.0 - 1.2]\t{unused}\txxx\t[2.5, 2.5, 2.5]")
        evaluation = folder / f"Session{session}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
        evaluation.parent.mkdir(parents=True, exist_ok=True)
        evaluation.write_text("% header\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return folder


def voicebank(root: Path) -> Path:
    """VoiceBank-DEMAND at 48 kHz: clean clips and the same plus noise (5 dB
    SNR); train speakers p226 (validation) and p227, test speaker p232."""
    folder = root / "VoiceBank"
    generator = torch.Generator().manual_seed(0)
    layout = {
        "trainset_28spk_wav": [("p226", 1), ("p227", 4)],
        "testset_wav": [("p232", 1)],
    }
    pool = iter(clip for speaker_clips in clips().values() for clip in speaker_clips)
    for split, speakers in layout.items():
        for speaker, count in speakers:
            for index in range(1, count + 1):
                clean = next(pool)
                noise = torch.randn(clean.shape, generator=generator)
                noise *= clean.norm() / noise.norm() / 10 ** (5 / 20)
                name = f"{speaker}_{index:03d}.wav"
                _write(folder / f"clean_{split}" / name, clean, 48000)
                _write(folder / f"noisy_{split}" / name, clean + noise, 48000)
    return folder


def libri2mix(root: Path) -> Path:
    """``Libri2Mix/wav16k/min/{train-100,dev,test}/{mix_clean,s1,s2}``: sums of a
    clip of speaker 84 and one of speaker 251 (4 + 1 + 1 mixtures)."""
    folder = root / "Libri2Mix"
    speaker_clips = clips()
    layout: Dict[str, List[Tuple[int, int]]] = {
        "train-100": [(0, 0), (1, 1), (2, 2), (3, 3)],
        "dev": [(4, 4)],
        "test": [(5, 5)],
    }
    for split, pairs in layout.items():
        directory = folder / "wav16k" / "min" / split
        for first, second in pairs:
            s1, s2 = speaker_clips["84"][first], speaker_clips["251"][second]
            mix_id = f"84-121123-{first:04d}_251-118436-{second:04d}"
            _write(directory / "s1" / f"{mix_id}.wav", s1)
            _write(directory / "s2" / f"{mix_id}.wav", s2)
            _write(directory / "mix_clean" / f"{mix_id}.wav", 0.5 * (s1 + s2))
    return folder
