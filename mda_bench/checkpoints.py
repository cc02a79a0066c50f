"""Official Pythia checkpoints from local disk, and the head scores of every one of them.

EleutherAI publishes each Pythia model's weights after step N as the Hugging Face revision
`stepN` (0, 1, 2, 4 ... 512, 1000, 2000 ... 143000). Nothing is downloaded here: the revisions
are read from

- a plain folder with one `stepN/` model folder per revision (`config.json` and weights, as
  `save_pretrained` writes them), or
- a Hugging Face cache (`HF_HUB_CACHE`, or any folder laid out like it): the model's folder
  `models--EleutherAI--pythia-14m[-deduped]/`, where `refs/stepN` names the commit whose
  files are in `snapshots/<commit>/`.

`checkpoint_records` evaluates the unit's probe at every revision: the baseline curve the
claims read their window and reference scores from. The revisions are 1,000 steps apart past
step 512, too coarse to place an onset inside a window, which is why every claim also trains
an identity branch with the suite's own code.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .errors import MdaError
from .model import stabilise_layer_norms
from .scales import ModelConfig

_STEP = re.compile(r"^step(\d+)$")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def _has_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / w).exists() for w in _WEIGHTS)


def cache_folder(root: Path, model: str) -> Path:
    """The cache folder of `model` ("EleutherAI/pythia-14m") under a hub cache root."""
    return root / ("models--" + model.replace("/", "--"))


def find_revisions(path: Path | str, model: str | None = None) -> dict[int, Path]:
    """{step: model folder} of every `stepN` revision under `path` (a plain folder of `stepN/`
    folders, a model's cache folder, or a cache root together with `model`)."""
    path = Path(path)
    if model is not None and cache_folder(path, model).is_dir():
        path = cache_folder(path, model)
    if not path.is_dir():
        raise MdaError(f"checkpoint folder {path} does not exist")
    found: dict[int, Path] = {}
    refs = path / "refs"
    if refs.is_dir():  # a Hugging Face cache: refs/stepN holds a commit, snapshots/<commit>/ the files
        for ref in refs.iterdir():
            m = _STEP.match(ref.name)
            if m and ref.is_file():
                found[int(m[1])] = path / "snapshots" / ref.read_text().strip()
    else:
        for sub in path.iterdir():
            m = _STEP.match(sub.name)
            if m and sub.is_dir():
                found[int(m[1])] = sub
    if not found:
        raise MdaError(
            f"no stepN revisions under {path} (expected stepN/ folders or a Hugging Face cache "
            "folder with refs/stepN)"
        )
    bad = [s for s, folder in found.items() if not _has_model(folder)]
    if bad:
        raise MdaError(
            f"revision step{min(bad)} under {path} has no config.json and weights in {found[min(bad)]}"
        )
    return dict(sorted(found.items()))


def load_revision(folder: Path, expect: ModelConfig | None = None):
    """A GPTNeoXForCausalLM from a revision folder (eager attention, so patterns can be read),
    checked against the scale's sizes when `expect` is given."""
    from transformers import GPTNeoXForCausalLM

    try:
        model = GPTNeoXForCausalLM.from_pretrained(folder, local_files_only=True, attn_implementation="eager")
    except (OSError, ValueError) as exc:
        raise MdaError(f"cannot load the checkpoint in {folder}: {exc}") from None
    c = model.config
    if expect is not None:
        have = (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.vocab_size)
        want = (expect.n_layers, expect.d_model, expect.n_heads, expect.vocab_size)
        if have != want:
            raise MdaError(
                f"the checkpoint in {folder} has layers/width/heads/vocab {have}, the scale wants {want}; "
                "is it another model size?"
            )
    return stabilise_layer_norms(model).eval()


@torch.no_grad()
def checkpoint_records(
    revisions: dict[int, Path], probe: torch.Tensor, expect: ModelConfig | None = None, heldout=None, log=None
) -> list[dict]:
    """One record per revision, in the format of a training run's checkpoints: the head scores
    on the probe (and the held-out loss and ICL score when `heldout` rows are given)."""
    from .heads import icl_and_loss, probe_model

    records = []
    for step, folder in revisions.items():
        if log is not None:
            log(f"scoring revision step{step} ...")
        model = load_revision(folder, expect)
        rec = {"step": step, "train_loss": None, **probe_model(model, probe)}
        if heldout is not None:
            rec.update(icl_and_loss(model, heldout))
        records.append(rec)
    return records
