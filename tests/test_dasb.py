"""The DASB path: FocalCodecTokenizer in DASB-style hyperparameters (docs/dasb.md)."""

import re

import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.data_utils import undo_padding

from speechbrain_focalcodec.probes.token_embedding import TokenEmbedding
from speechbrain_focalcodec.tokenizer import FocalCodecTokenizer
from tests.conftest import GOLDEN, ROOT

DOC = (ROOT / "docs" / "dasb.md").read_text()


def test_dasb_hparams_from_the_docs(speech):
    block = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)[0]
    assert "lucadellalib/focalcodec_50hz" in block
    hparams = load_hyperpyyaml(block, {"codec_source": str(GOLDEN / "tiny_50hz")})
    tokenizer = hparams["tokenizer"]
    assert isinstance(tokenizer, FocalCodecTokenizer)
    assert tokenizer.sample_rate == hparams["sample_rate"]
    assert tokenizer.vocab_size == hparams["vocab_size"]
    assert tokenizer.num_codebooks == hparams["num_codebooks"]

    # What DASB's TokensExtractor does with a padded batch.
    sig = torch.zeros(2, 32000)
    sig[0], sig[1, :20000] = speech[1][:32000], speech[2][:20000]
    lens = torch.tensor([1.0, 20000 / 32000])
    tokens = tokenizer.sig_to_tokens(sig, lens, num_codebooks=hparams["num_codebooks"])
    assert tokens.shape == (2, 99, 1) and tokens.dtype == torch.int64
    items = undo_padding(tokens, lens)
    alone = tokenizer.sig_to_tokens(speech[2][None, :20000])
    assert torch.equal(torch.tensor(items[1]), alone[0][: len(items[1])])

    # Pretrained embeddings for DASB's embedding layers ([K * C, D]) and ours.
    embs = tokenizer.get_pretrained_embeddings(hparams["vocab_size"], hparams["num_codebooks"])
    assert embs.shape == (hparams["vocab_size"], hparams["encoder_dim"])
    embedding = TokenEmbedding(hparams["vocab_size"], hparams["encoder_dim"], codebook=embs)
    vectors, _ = embedding(tokens[..., 0])
    assert torch.equal(vectors, tokenizer.codec.toks_to_codes(tokens[..., 0]))
    assert tokenizer.tokens_to_sig(tokens).shape == (2, 31680)


FAKE_DASB = """
from abc import ABC, abstractmethod


class BaseTokenizer(ABC):
    def __init__(self):
        super().__init__()

    @abstractmethod
    def sig_to_tokens(self, signal, lengths=None, num_codebooks=None, **kwargs):
        pass

    @abstractmethod
    def tokens_to_sig(self, tokens, **kwargs):
        pass

    @abstractmethod
    def get_pretrained_embeddings(self, vocab_size, num_codebooks, **kwargs):
        pass
"""

CHECK = """
from utils import tokenizer_interface
from speechbrain_focalcodec.tokenizer import FocalCodecTokenizer
tokenizer = FocalCodecTokenizer(source={source!r})
print(isinstance(tokenizer, getattr(tokenizer_interface, "BaseTokenizer", ())))
print(tokenizer.get_pretrained_embeddings(8192, 1, "meta").device)
"""


def run_with_utils(tmp_path, interface: str):
    """Runs CHECK with a `utils` package (DASB's layout) first on the path."""
    import os
    import subprocess
    import sys

    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "__init__.py").write_text("")
    (tmp_path / "utils" / "tokenizer_interface.py").write_text(interface)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    code = CHECK.format(source=str(GOLDEN / "tiny_50hz"))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_subclasses_dasb_base_tokenizer_when_importable(tmp_path):
    assert run_with_utils(tmp_path, FAKE_DASB) == ["True", "meta"]


def test_plain_module_without_dasb(tmp_path):
    """Another `utils` package on the path (no tokenizer_interface.BaseTokenizer)."""
    assert run_with_utils(tmp_path, "x = 1\n") == ["False", "meta"]


def test_embeddings_positional_with_device():
    tokenizer = FocalCodecTokenizer(source=str(GOLDEN / "tiny_50hz"))
    embs = tokenizer.get_pretrained_embeddings(8192, 1, torch.device("meta"))
    assert embs.device.type == "meta" and embs.shape == (8192, 13)
    on_cpu = tokenizer.get_pretrained_embeddings(8192, 1, "cpu")
    assert torch.equal(on_cpu, tokenizer.codec.codebook)
