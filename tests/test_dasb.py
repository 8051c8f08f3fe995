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
