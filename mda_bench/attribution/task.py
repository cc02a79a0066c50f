"""The kronfluence `Task` of one head: training loss of a row, measurement = the unit's probe.

Sign convention (docs/design.md): a positive influence means up-weighting the row *raises* the
probe. kronfluence scores "up-weighting lowers the measurement", so `compute_measurement`
returns the negated probe; this is the one place the sign is flipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kronfluence.task import Task

from ..heads import (
    copy_logprob_varied,
    copy_target_logprob,
    prefix_matching_score,
    prefix_matching_varied,
    previous_token_score,
)
from .split import SplitAttention, split_module_names

# probe name -> the split head's modules its gradient reaches
PROBES = {
    "prefix-matching": ("qk",),  # attention probes give V and O no gradient: track QK only
    "previous-token": ("qk",),
    "copy-logprob": ("qk", "v", "o"),
}
UNIT_PROBES = {"induction": ("prefix-matching", "copy-logprob"), "previous-token": ("previous-token",)}


def probe_value(model, probe: torch.Tensor, layer: int, head: int, kind: str, halves=None) -> torch.Tensor:
    """The probe, summed over probe sequences (differentiable). On a split model the head's
    pattern comes from its SplitAttention; on an unsplit one from `output_attentions`.
    `halves`: each sequence's segment length, for the varied-length probe (heads.varied_probe)."""
    half = probe.shape[1] // 2
    attn = model.gpt_neox.layers[layer].attention
    split = isinstance(attn, SplitAttention)
    out = model(input_ids=probe, output_attentions=not split and kind != "copy-logprob")
    logits = out.logits
    if kind == "copy-logprob":
        if halves is not None:
            return copy_logprob_varied(logits, probe, halves).sum()
        return copy_target_logprob(logits, probe).sum()
    pattern = attn.last_pattern if split else out.attentions[layer][:, head]
    if kind == "prefix-matching":
        if halves is not None:
            return prefix_matching_varied(pattern, halves).sum()
        return prefix_matching_score(pattern, half).sum()
    if kind == "previous-token":
        return previous_token_score(pattern).sum()
    raise ValueError(f"unknown probe {kind!r}; choose one of {sorted(PROBES)}")


class HeadTask(Task):
    """Training loss: summed next-token loss of a row. Measurement: minus the head's probe."""

    def __init__(self, layer: int, head: int, kind: str = "prefix-matching", whole_layer: bool = False):
        if kind not in PROBES:
            raise ValueError(f"unknown probe {kind!r}; choose one of {sorted(PROBES)}")
        self.layer, self.head, self.kind = layer, head, kind
        if whole_layer:  # the fused attention layer (for comparison): every head's Q, K, V, O
            fused = {"qk": "query_key_value", "v": "query_key_value", "o": "dense"}
            names = dict.fromkeys(fused[m] for m in PROBES[kind])
            self.modules = [f"gpt_neox.layers.{layer}.attention.{m}" for m in names]
        else:
            self.modules = split_module_names(layer, PROBES[kind])

    # The varied-length probe's segment lengths (one per probe sequence), set by the scorer;
    # None for the fixed-length probes. The measurement always sees the whole probe as one batch.
    halves: torch.Tensor | None = None

    # Set to a list by the scorer around a scoring pass: every batch's per-row mean loss is
    # appended (in the data order), so the window's losses need no forward pass of their own.
    captured: list[torch.Tensor] | None = None

    def compute_train_loss(self, batch, model, sample: bool = False) -> torch.Tensor:
        ids = batch["input_ids"]
        logits = model(input_ids=ids).logits[:, :-1].float()
        flat = logits.reshape(-1, logits.shape[-1])
        if sample:  # true Fisher: labels drawn from the model (seeded by the caller)
            with torch.no_grad():
                labels = torch.multinomial(torch.softmax(flat.detach(), -1), 1).squeeze(-1)
        else:
            labels = ids[:, 1:].reshape(-1)
        if self.captured is None or sample:
            return F.cross_entropy(flat, labels, reduction="sum")
        nll = F.cross_entropy(flat, labels, reduction="none")
        self.captured.append(nll.detach().view(ids.shape[0], -1).mean(1).double().cpu())
        return nll.sum()

    def compute_measurement(self, batch, model) -> torch.Tensor:
        ids = batch["input_ids"]
        if self.halves is not None and len(self.halves) != ids.shape[0]:
            raise RuntimeError(
                f"a varied probe of {len(self.halves)} sequences measured in a batch of {ids.shape[0]}"
            )
        halves = None if self.halves is None else self.halves.to(ids.device)
        return -probe_value(model, ids, self.layer, self.head, self.kind, halves)

    def get_influence_tracked_modules(self) -> list[str]:
        return self.modules


class RowDataset(torch.utils.data.Dataset):
    """Token rows as kronfluence batches: {"input_ids": LongTensor[ctx]}."""

    def __init__(self, rows):
        self.rows = torch.as_tensor(rows, dtype=torch.long)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.rows[i]}
