"""The baseline of a `pythia-*` scale: Pythia's own checkpoints, scored, and branch points.

Two store stages. `official` scores the unit's probe (and the held-out loss and ICL score) at
every revision found under `--checkpoints`: the baseline's records, one per revision, from
which the window is read as at any scale. `branch-state` builds the checkpoint a branch starts
from at an official step: the revision's weights in the suite's model, with AdamW's moments
rebuilt from the K batches before that step at lr 0 (branch_state.py; at step 0 the state is
AdamW's own zeros, exact). Every branch of a claim starts from that one checkpoint, the
identity branch included, and the identity branch is the claim's reference curve (the
revisions are 1,000 steps apart, too coarse for an onset).

Revisions are fingerprinted, not hashed whole (a 160M run has 154 of 650 MB): the config, and
each weights file's size with the hash of its first and last MiB.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from . import ranks
from .checkpoint_io import save_checkpoint, write_eval
from .checkpoints import find_revisions, load_revision
from .device import pinned_threads
from .errors import MdaError
from .progress import progress_bar
from .scales import Scale
from .store import Store, read_json

OFFICIAL_VERSION = 1
MIB = 1 << 20
# the architecture fields a revision must share with the suite's model for a branch to train
# the same network the revision was (sizes are checked by load_revision)
ARCH = ("hidden_act", "use_parallel_residual", "tie_word_embeddings", "layer_norm_eps", "intermediate_size")


def model_name(scale: Scale) -> str:
    """The Hugging Face name of the scale's checkpoints for the chosen Pile."""
    return f"EleutherAI/{scale.name}" + ("-deduped" if scale.pythia.pile == "deduped" else "")


def fingerprint(folder: Path) -> str:
    h = hashlib.sha256((folder / "config.json").read_bytes())
    for f in sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin")):
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with open(f, "rb") as fh:
            h.update(fh.read(MIB))
            fh.seek(max(0, size - MIB))
            h.update(fh.read(MIB))
    return h.hexdigest()[:16]


def check_architecture(model, scale: Scale) -> None:
    """Refuse a revision whose architecture differs from the suite's model of the scale."""
    from .model import neox_config

    want = neox_config(scale.model)
    for name in ARCH:
        a, b = getattr(model.config, name, None), getattr(want, name, None)
        if a != b:
            raise MdaError(f"the checkpoint's {name} is {a!r}, the suite's {scale.name} model has {b!r}")


def official_stage(scale: Scale, store: Store, data, log=print):
    """The scored revisions as a baseline Run (records only; weights stay in the revisions)."""
    from .heads import icl_and_loss, make_probe, probe_model
    from .pipeline import Run

    files = scale.pythia
    files.require(scale.name, "checkpoints")
    revisions = find_revisions(files.checkpoints, model_name(scale))
    cfg = {
        "version": OFFICIAL_VERSION,
        "data": data.key,
        "model": scale.model,
        "probe": scale.probe.unit_probe(),
        "revisions": {str(s): fingerprint(f) for s, f in revisions.items()},
    }

    def build(part: Path) -> dict:
        device = scale.runtime.device  # 154 revisions x 64 held-out rows of 2,048 tokens: a GPU's job
        probe = make_probe(scale.model.vocab_size, scale.probe).to(device)
        heldout = torch.from_numpy(np.asarray(data.stream.heldout, dtype=np.int64)).to(device)
        (part / "ckpt").mkdir()
        with progress_bar(len(revisions), f"score {scale.name} revisions", "revision") as bar:
            for step, folder in revisions.items():
                model = load_revision(folder, expect=scale.model)
                check_architecture(model, scale)
                model = model.to(device)
                rec = {"step": step, "train_loss": None, **probe_model(model, probe)}
                write_eval(part / "ckpt", {**rec, **icl_and_loss(model, heldout)})
                bar.update(1)
        (part / "revisions.json").write_text(json.dumps({str(s): str(f) for s, f in revisions.items()}))
        return {"model": model_name(scale), "pile": files.pile, "checkpoints": files.checkpoints}

    done = store.compute("official", cfg, build)
    from .checkpoint_io import read_records

    log(
        f"baseline: {len(revisions)} official revisions of {model_name(scale)} "
        f"(steps {min(revisions)}-{max(revisions)})"
    )
    return Run(
        done.name,
        done,
        read_records(done / "ckpt"),
        read_json(done / "manifest.json"),
        revisions=revisions,
        branch_state={"protocol": "rebuild", "batches": files.rebuild_batches},
    )


def own_baseline_stage(scale: Scale, store: Store, data, log=print):
    """The `own-baseline` protocol: Pythia trained by the suite from revision step0 (AdamW's
    zeros, exact) through step `own_until`, in Pythia's row order and lr schedule, with full
    checkpoints (weights and true AdamW state) to branch from. A plain training run otherwise."""
    from .checkpoint_io import read_records
    from .pipeline import Run
    from .train import train_run

    until = scale.pythia.own_until
    if not 0 < until <= scale.train.steps:
        raise MdaError(f"--optimizer-state own-baseline needs --own-until STEP in [1, {scale.train.steps}]")
    official = official_stage(scale, store, data, log=log)
    start = branch_point(scale, store, data, official, 0)
    cfg = {
        "version": OFFICIAL_VERSION,
        "own_baseline_of": official.key,
        "until": until,
        "train": scale.train,
        "probe": scale.probe.unit_probe(),
        **scale.runtime.key_part(),
        **ranks.key_part(),
    }

    def build(part: Path) -> dict:
        with progress_bar(until, f"train {scale.name} from step0", "step") as bar:
            train_run(
                scale,
                data.stream,
                part,
                branch_from=start,
                end_step=until,
                on_step=lambda s, _: bar.update(1),
            )
        return {"optimizer_state": "own-baseline", "model": model_name(scale), "from": "revision step0"}

    done = store.compute("train", cfg, build, collective=True)
    log(f"baseline: {model_name(scale)} trained by the suite from step0 to step {until}")
    return Run(done.name, done, read_records(done / "ckpt"), read_json(done / "manifest.json"))


def revision_model(scale: Scale, run, step: int):
    """The suite's model of `scale` holding revision `step`'s weights, on the scale's device."""
    from .model import build_model

    if step not in run.revisions:
        near = sorted(run.revisions, key=lambda s: abs(s - step))[:2]
        raise MdaError(
            f"no official revision step{step} under {run.manifest.get('checkpoints')}; nearest: {near}"
        )
    official = load_revision(run.revisions[step], expect=scale.model)
    check_architecture(official, scale)
    model = build_model(scale.model, 0, attention=scale.runtime.attention)
    model.load_state_dict(official.state_dict())
    return model.to(scale.runtime.device)


def branch_point(scale: Scale, store: Store, data, run, step: int, log=print) -> Path:
    """The checkpoint folder branches at `step` start from (built once, then reused)."""
    from .branch_state import rebuild_adam_state
    from .train import make_optimizer

    k = min(run.branch_state["batches"], step)
    cfg = {"version": OFFICIAL_VERSION, "official": run.key, "step": step, "rebuild_batches": k}
    cfg.update(scale.runtime.key_part())

    @pinned_threads(scale.runtime)  # rebuilt moments are sums of gradients, as in training
    def build(part: Path) -> dict:
        model = revision_model(scale, run, step)
        opt = make_optimizer(model, scale.train)
        if step == 0:  # AdamW's state before the first update is its zeros: nothing to rebuild
            info = {"optimizer_state": "fresh (step 0)"}
        else:
            log(f"rebuilding AdamW's moments at step {step} from the {k} batches before it (lr 0) ...")
            info = rebuild_adam_state(model, opt, data.stream, step, k, scale.train, scale.runtime)
        rec = next(r for r in run.records if r["step"] == step)
        save_checkpoint(model, opt, step, rec, part / "ckpt")
        return info

    done = store.compute("branch-state", cfg, build)
    return done / "ckpt" / f"step-{step:06d}"


def describe(exp) -> list[str]:
    """Report lines: the revisions, the branch state, the reference curve, the held-out rows."""
    revs = sorted(exp.baseline.revisions)
    start = exp.window.start
    k = min(exp.baseline.branch_state["batches"], start)
    state = (
        "AdamW's zero state"
        if start == 0
        else f"AdamW moments rebuilt from the {k} batches before it at lr 0"
    )
    held = read_json(exp.data.path / "manifest.json").get("heldout_from", "?")
    return [
        f"- baseline: {len(revs)} official revisions of {exp.baseline.manifest.get('model')} "
        f"(steps {revs[0]}-{revs[-1]}); every branch starts from revision step{start} with {state}",
        "- reference curve: the identity branch (revisions are too far apart for an onset); "
        f"held-out rows: {held}",
    ]
