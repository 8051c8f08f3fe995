"""Padding never enters a feature loss of the training recipes.

For the distillation and joint stages of FocalCodec-Stream and stage 1 of
FocalCodec, the feature loss of a padded batch is the frame-weighted mean of
the losses of its utterances encoded alone: teacher, student, compressor,
quantizer and losses count each utterance's own samples and frames only
(tiny configurations, in-process Brains). SpeechBrain's ``mse_loss`` let one
padded frame in when a relative length lands a hair above its frame count.
"""

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch

from speechbrain_focalcodec.training.distill_brain import EncoderDistillBrain, PosEmbDistillBrain
from speechbrain_focalcodec.training.joint_brain import JointBrain
from speechbrain_focalcodec.training.quantizer_brain import QuantizerBrain
from tests.conftest import ROOT

RECIPES = ROOT / "recipes" / "LibriTTS"
# yaml -> (Brain, its feature loss statistic); stage 1 of the non-causal recipe too.
BRAINS = {
    "focalcodec-stream/hparams/tiny_posemb.yaml": (PosEmbDistillBrain, "posemb_mse"),
    "focalcodec-stream/hparams/tiny_wavlm.yaml": (EncoderDistillBrain, "layer_mse"),
    "focalcodec-stream/hparams/tiny_joint.yaml": (JointBrain, "feature_mse"),
    "focalcodec/hparams/tiny_stage1.yaml": (QuantizerBrain, "feature_mse"),
}


def _stat(brain, utterances, key: str) -> float:
    """The batch statistic ``key`` of one training forward on ``utterances``."""
    batch = PaddedBatch([{"id": f"utt{len(sig)}", "sig": sig} for sig in utterances])
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    with torch.no_grad():
        outputs = brain.compute_forward(batch, sb.Stage.TRAIN)
        brain.compute_objectives(outputs, batch, sb.Stage.TRAIN)
    return brain.sums[key]


@pytest.mark.parametrize("yaml", sorted(BRAINS))
def test_batch_loss_is_the_frame_weighted_mean_of_the_utterances(yaml, speech, tmp_path):
    text = (RECIPES / yaml).read_text()
    hparams = load_hyperpyyaml(text, {"data_folder": str(tmp_path), "output_folder": str(tmp_path)})
    brain_class, key = BRAINS[yaml]
    brain = brain_class(modules=hparams["modules"], hparams=hparams, run_opts={"device": "cpu"})
    hparams["encoder"].eval()
    brain.modules.eval()
    utterances = [speech[0][:24000], speech[1][:13333], speech[2][:7777]]
    alone = [_stat(brain, [sig], key) for sig in utterances]
    frames = [
        int(hparams["encoder"].num_output_frames(torch.tensor(len(sig)))) for sig in utterances
    ]
    expected = sum(n * value for n, value in zip(frames, alone)) / sum(frames)
    assert _stat(brain, utterances, key) == pytest.approx(expected, rel=1e-4)
    assert max(alone) > 1.05 * min(alone)  # the utterances' losses differ: a real check
