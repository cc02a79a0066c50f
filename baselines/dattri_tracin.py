"""TracIn from another maintained attribution library (dattri), on the same head and probe.

kronfluence supplies every other method on the leaderboard; a second library's implementation
guards against a result that is an artefact of one code base. dattri's `TracInAttributor`
scores a training row by the dot product of its loss gradient with the measurement's gradient,
summed over checkpoints (Pruthi et al. 2020). Here the gradients are restricted to the unit's
split head (the same parameters kronfluence tracks: its QK block for an attention probe), the
measurement is minus the probe averaged over probe sequences (as kronfluence's scores are
read; the suite's sign: positive = up-weighting the row raises the probe) and the checkpoints
are the window's start, the one nearest its middle, and its end. The learning rate is
constant there at every suite scale, so the checkpoints are weighted equally (a common factor
does not change a ranking).

At one checkpoint this is kronfluence's `identity` strategy computed by other code: the test
holds the two to each other. `tracin_stage` keeps the scores in the run store (stage
`dattri-tracin`, keyed by baseline, unit, checkpoints, rows, probe, runtime and dattri's
version), so a second leaderboard reuses them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

ROWS_PER_BATCH = 256  # the probe's gradients are recomputed for every batch of rows


class _Probe(torch.nn.Module):
    """The measurement as a module's forward, so that dattri can call it functionally."""

    def __init__(self, model, layer: int, head: int, kind: str):
        super().__init__()
        self.model, self.layer, self.head, self.kind = model, layer, head, kind

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        from mda_bench.attribution.task import probe_value

        return -probe_value(self.model, ids, self.layer, self.head, self.kind)


def _loss(model):
    def loss(params, batch):
        ids = batch[0].unsqueeze(0)  # dattri vmaps over rows: one row at a time here
        logits = torch.func.functional_call(model, params, (ids,)).logits[:, :-1].float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum")

    return loss


def _target(probe: _Probe):
    def target(params, batch):
        named = {f"model.{k}": v for k, v in params.items()}
        return torch.func.functional_call(probe, named, (batch[0].unsqueeze(0),))

    return target


def tracin_scores(scale, run, stream, rows: np.ndarray, unit: dict, steps: list[int]) -> np.ndarray:
    """One TracIn score per row of `rows` (a float64 array in their order), summed over the
    checkpoints at `steps` of baseline `run`, through dattri."""
    from dattri.algorithm.tracin import TracInAttributor
    from dattri.task import AttributionTask

    from mda_bench.attribution.split import split_head, split_module_names
    from mda_bench.attribution.stage import checkpoint_model
    from mda_bench.attribution.task import PROBES
    from mda_bench.heads import make_probe

    layer, head, kind = unit["layer"], unit["head"], "prefix-matching"
    device = scale.runtime.device
    models = [split_head(checkpoint_model(scale, run, s), layer, head) for s in steps]
    # copies: dattri loads each state into `model` in place, which would overwrite a state
    # that shared the model's own tensors
    states = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    model = models[-1].eval()
    model.config._attn_implementation = "eager"
    tracked = split_module_names(layer, PROBES[kind])
    names = [n for n, _ in model.named_parameters() if n.rsplit(".", 1)[0] in tracked]
    # dattri differentiates the parameters that require grad; leaving the rest frozen also keeps
    # autograd from recording a graph for them under its per-row vmap: the same scores, bit for
    # bit, about 25x faster at tiny (66 s -> 2.5 s for 512 rows x 3 checkpoints on one thread)
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    task = AttributionTask(
        loss_func=_loss(model),
        model=model,
        checkpoints=states,
        target_func=_target(_Probe(model, layer, head, kind)),
    )
    attributor = TracInAttributor(
        task=task, weight_list=torch.ones(len(steps)), normalized_grad=False, device=device, layer_name=names
    )
    # dattri projects gradients to 512 dimensions by default (for large models); a head's QK
    # block at the suite's scales has a few thousand parameters, so TracIn uses them exactly.
    attributor.projector_kwargs = None
    train = torch.as_tensor(stream.rows(np.asarray(rows)).astype(np.int64))
    probe = make_probe(scale.model.vocab_size, scale.probe)
    load = torch.utils.data.DataLoader
    scores = attributor.attribute(
        load(torch.utils.data.TensorDataset(train), batch_size=ROWS_PER_BATCH),
        load(torch.utils.data.TensorDataset(probe), batch_size=len(probe)),
    )
    return scores.double().mean(dim=1).cpu().numpy()  # the probe is the mean over its sequences


def tracin_stage(scale, store, run, stream, rows: np.ndarray, unit: dict, steps: list[int], log=print):
    """(scores, seconds per 1,000 rows) of `tracin_scores`, computed once per key in the store."""
    import time
    from importlib.metadata import version

    rows = np.asarray(rows, dtype=np.int64)
    cfg = {
        "version": 1,
        "dattri": version("dattri"),
        "train": run.key,
        "unit": {k: unit[k] for k in ("unit", "layer", "head")},
        "steps": [int(s) for s in steps],
        "rows": {"first": int(rows[0]), "last": int(rows[-1]), "n": len(rows)},
        "probe": scale.probe.unit_probe(),
        **scale.runtime.key_part(),
    }

    def build(part) -> dict:
        log(f"scoring {len(rows):,} rows with dattri's TracIn at steps {', '.join(map(str, steps))} ...")
        t0 = time.perf_counter()
        scores = tracin_scores(scale, run, stream, rows, unit, steps)
        seconds = time.perf_counter() - t0
        np.savez(part / "scores.npz", row=rows, score=scores)
        return {"seconds": round(seconds, 2)}

    done = store.compute("dattri-tracin", cfg, build)
    got = np.load(done / "scores.npz")
    if not np.array_equal(got["row"], rows):
        raise RuntimeError(f"{done} holds scores of other rows")
    from mda_bench.store import MANIFEST, read_json

    seconds = float(read_json(done / MANIFEST).get("seconds", float("nan")))
    return got["score"], 1000 * seconds / len(rows)
