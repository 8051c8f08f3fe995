#!/usr/bin/env python3
"""Recipe for speech separation with FocalCodec tokens (Libri2Mix).

A probe of the tokens for generation: a Conformer encoder reads the tokens of
the mixture and predicts, frame by frame, the tokens of both sources. The
cross-entropy is permutation invariant (the best of the two assignments of
outputs to sources, per mixture). The codec decodes the predicted tokens back
to speech, scored with DNSMOS, dWER and speaker similarity against the
matching source.

To run this recipe:
> python train.py hparams/train.yaml --data_folder /path/to/Libri2Mix

Authors
 * speechbrain-focalcodec developers 2026
"""

import itertools
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from librimix_prepare import prepare_librimix
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.utils.distributed import infer_device

from speechbrain_focalcodec.ops.padding import lens_to_counts
from speechbrain_focalcodec.probes.datasets import token_datasets
from speechbrain_focalcodec.probes.generation import TokenGenerationBrain
from speechbrain_focalcodec.training.distributed import end_distributed, init_distributed, on_main

SOURCES = ["s1_wav", "s2_wav"]


def pit_cross_entropy(log_probs, targets, lens):
    """Permutation-invariant cross-entropy over sources.

    Arguments
    ---------
    log_probs : torch.Tensor
        ``[batch, tokens, sources, vocab]``.
    targets : torch.Tensor
        ``[batch, tokens, sources]``.
    lens : torch.Tensor
        Relative lengths ``[batch]``.

    Returns
    -------
    loss : torch.Tensor
        Mean over the batch of the best assignment's cross-entropy.
    order : torch.Tensor
        ``[batch, sources]``: output ``i`` of mixture ``b`` predicts source
        ``order[b, i]``.
    """
    mask = length_to_mask(lens_to_counts(lens, targets.shape[1]), targets.shape[1]).to(log_probs)
    perms = list(itertools.permutations(range(targets.shape[2])))
    costs = []
    for perm in perms:
        nll = -log_probs.gather(-1, targets[:, :, perm, None]).squeeze(-1).mean(-1)
        costs.append((nll * mask).sum(1) / mask.sum(1))
    costs = torch.stack(costs)  # [perms, batch]
    order = torch.tensor(perms, device=targets.device)[costs.argmin(0)]
    return costs.min(0).values.mean(), order


class Separation(TokenGenerationBrain):
    """Predicts the tokens of two sources from the tokens of their mixture."""

    def compute_forward(self, batch, stage):
        """Mixture tokens -> embeddings -> Conformer -> log-probabilities per source."""
        batch = batch.to(self.device)
        toks, toks_lens = self.hparams.batch_tokenizer(batch, "mix_wav")
        embs, _ = self.modules.embedding(toks)
        hidden = self.modules.encoder.encode(embs, toks_lens)
        logits = self.modules.head(hidden).unflatten(-1, (self.hparams.num_sources, -1))
        return self.hparams.log_softmax(logits), toks_lens

    def compute_objectives(self, predictions, batch, stage):
        """PIT cross-entropy; token error rate; decoding of each source in test."""
        log_probs, toks_lens = predictions
        targets = [self.hparams.batch_tokenizer(batch, key)[0] for key in SOURCES]
        num_toks = min([log_probs.shape[1]] + [t.shape[1] for t in targets])
        log_probs = log_probs[:, :num_toks]
        targets = torch.stack([t[:, :num_toks] for t in targets], dim=-1)
        loss, order = pit_cross_entropy(log_probs, targets, toks_lens)
        if stage == sb.Stage.TRAIN:
            return loss
        # Outputs in the order of the sources: output order^-1[j] predicts source j.
        outputs = order.argsort(-1)[:, None, :, None].expand(-1, num_toks, -1, log_probs.shape[-1])
        log_probs = log_probs.gather(2, outputs)
        ids = [f"{utt_id}_s{j + 1}" for utt_id in batch.id for j in range(len(SOURCES))]
        self.token_errors.append(
            ids,
            log_probs.transpose(1, 2).flatten(0, 1),
            targets.transpose(1, 2).flatten(0, 1),
            toks_lens.repeat_interleave(len(SOURCES)),
        )
        if stage == sb.Stage.TEST:
            hyps = log_probs.argmax(-1)
            for index, key in enumerate(SOURCES):
                ref_sig, ref_lens = getattr(batch, f"{key}_sig")
                ids = [f"{utt_id}_s{index + 1}" for utt_id in batch.id]
                self.score_generated(ids, hyps[:, :, index], toks_lens, ref_sig, ref_lens)
        return loss


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    init_distributed(run_opts)  # destroyed by end_distributed or at exit
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    on_main(
        prepare_librimix,
        **{
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["save_folder"],
            "splits": hparams["train_splits"] + hparams["valid_splits"] + hparams["test_splits"],
            "version": hparams["version"],
            "mixture": hparams["mixture"],
            "skip_prep": hparams["skip_prep"],
        },
    )
    on_main(
        sb.dataio.dataio.merge_csvs,
        **{
            "data_folder": hparams["save_folder"],
            "csv_lst": [f"{split}.csv" for split in hparams["train_splits"]],
            "merged_csv": "train.csv",
        },
    )
    datasets = token_datasets(
        {name: hparams[f"{name}_csv"] for name in ("train", "valid", "test")},
        hparams["tokenizer"],
        ["mix_wav"] + SOURCES,
        tokens_folder=hparams["tokens_folder"] if hparams["extract_tokens"] else None,
        audio_splits={"test"},
        batch_size=hparams["extraction_batch_size"],
        device=run_opts.get("device") or infer_device(),
        sorting=hparams["sorting"],
    )
    hparams["train_dataloader_opts"]["shuffle"] = hparams["sorting"] == "random"
    suffix = "toks" if hparams["extract_tokens"] else "sig"
    keys = ["id"] + [f"{key}_{suffix}" for key in ["mix_wav"] + SOURCES]
    for name, dataset in datasets.items():
        test_keys = [f"{key}_sig" for key in SOURCES] if name == "test" else []
        dataset.set_output_keys(list(dict.fromkeys(keys + test_keys)))

    brain = Separation(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"], min_key="TER", test_loader_kwargs=hparams["test_dataloader_opts"]
    )
    end_distributed()  # a torchrun worker exits here (see training/distributed.py)
