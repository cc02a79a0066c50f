"""Tables and plots of training runs (claim reports build on these)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .heads import top_head
from .metrics import onset_step, rise_window


def head_table(record: dict) -> str:
    """Layer x head table of both head types at one checkpoint."""
    from tabulate import tabulate

    ind, prev = np.array(record["induction"]), np.array(record["previous-token"])
    rows = [
        (f"L{layer}H{h}", f"{ind[layer, h]:.3f}", f"{prev[layer, h]:.3f}")
        for layer in range(ind.shape[0])
        for h in range(ind.shape[1])
    ]
    return tabulate(
        rows,
        headers=[f"head (step {record['step']})", "prefix-matching", "previous-token"],
        colalign=("left", "right", "right"),
        disable_numparse=True,  # keep the 3-decimal formatting
    )


def curve(records: list[dict], kind: str, layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
    steps = np.array([r["step"] for r in records])
    return steps, np.array([r[kind][layer][head] for r in records])


def emergence_summary(records: list[dict]) -> dict:
    """Target induction head (layer >= 1) and the numbers of its rise."""
    final = np.array(records[-1]["induction"])
    layer, head, score = top_head(final, min_layer=1)
    steps, ys = curve(records, "induction", layer, head)
    rose = score > ys[0]  # a head that only lost attention mass has no onset to report
    window = rise_window(steps, ys) if rose else None
    return {
        "layer": layer,
        "head": head,
        "start_score": float(ys[0]),
        "final_score": score,
        "onset_step": onset_step(steps, ys, score) if rose else None,
        # the foundation issue's target: a layer >= 1 head from < 0.05 to >= 0.4
        "emerged": bool(ys[0] < 0.05 and score >= 0.4),
        "rise_10_90": window,
        "copy_loss_start": -records[0]["copy_logprob"],
        "copy_loss_final": -records[-1]["copy_logprob"],
    }


def summary_lines(records: list[dict]) -> list[str]:
    s = emergence_summary(records)
    onset = "never" if s["onset_step"] is None else f"{s['onset_step']:.0f}"
    rise = "n/a" if s["rise_10_90"] is None else "{:.0f}-{:.0f}".format(*s["rise_10_90"])
    return [
        f"target induction head: L{s['layer']}H{s['head']}  "
        f"prefix-matching {s['start_score']:.3f} -> {s['final_score']:.3f}",
        f"onset step (50% of final): {onset}; rise 10%->90%: steps {rise}",
        "induction head emerged (<0.05 -> >=0.4): " + ("yes" if s["emerged"] else "no"),
        f"probe copy-target loss: {s['copy_loss_start']:.2f} -> {s['copy_loss_final']:.2f} nats",
    ]


def figure(width: float, height: float, ncols: int = 1, squeeze: bool = True):
    """(fig, axes): a new matplotlib figure with `ncols` axes side by side, headless backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height), squeeze=squeeze)


def save_figure(fig, out: Path) -> Path:
    """Lay out, write `out` as a PNG (every plot of the suite at the same dpi) and close."""
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_head_curves(records: list[dict], out: Path, title: str = "") -> Path:
    """One PNG: every head's prefix-matching and previous-token curve, plus probe losses."""
    from matplotlib import colormaps

    steps = np.array([r["step"] for r in records])
    n_layers, n_heads = np.array(records[-1]["induction"]).shape
    fig, axes = figure(15, 4.2, 3)
    cmap = colormaps["tab10"]
    for ax, kind in zip(axes[:2], ("induction", "previous-token")):
        for layer in range(n_layers):
            for h in range(n_heads):
                _, ys = curve(records, kind, layer, h)
                style = "-" if layer else ":"
                ax.plot(steps, ys, style, color=cmap((layer * n_heads + h) % 10), label=f"L{layer}H{h}")
        ax.set_title("prefix-matching (induction) score" if kind == "induction" else "previous-token score")
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    ax = axes[2]
    ax.plot(steps, [-r["copy_logprob"] for r in records], label="probe copy-target loss")
    ax.plot(steps, [r["heldout_loss"] for r in records], label="held-out loss")
    ax.set_xlabel("step")
    ax.set_ylabel("nats")
    ax2 = ax.twinx()
    ax2.plot(steps, [r["icl_score"] for r in records], color="tab:red", alpha=0.6, label="ICL score")
    ax2.set_ylabel("ICL score (late - early loss)")
    ax.legend(loc="upper right", fontsize=8)
    ax2.legend(loc="center right", fontsize=8)
    ax.set_title("losses")
    ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_figure(fig, out)


def _snippet(text: str, width: int = 60) -> str:
    flat = " ".join(text.replace("<|endoftext|>", " ¶ ").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def attribution_lines(att, tokenizer=None, n_top: int = 10) -> list[str]:
    """Target head, window, top rows with a decoded snippet, and the category breakdown."""
    import json

    from tabulate import tabulate

    from .attribution.stage import category_breakdown

    u, m = att.unit, att.manifest
    how = "layers >= 1" if u["unit"] == "induction" else "any layer"
    rise = (
        "it never rose by 0.05: no unit formed, the window runs to the last checkpoint "
        "and the scores attribute noise"
    )
    if u["rose"]:
        r10 = "?" if u["rise_10"] is None else f"{u['rise_10']:.0f}"
        rise = f"10% of its rise at step {r10}, 90% at step {u['rise_90']:.0f}"
    cfg = m["config"]["influence"]
    lines = [
        f"target {u['unit']} head: L{u['layer']}H{u['head']} (highest final {u['score']} score in {how}: "
        f"{u['start_score']:.3f} at the window start -> {u['final_score']:.3f})",
        f"formation window: steps {u['window'][0]}-{u['window'][1]} ({rise}); "
        f"scored at checkpoint {u['checkpoint']}",
        f"{m['rows']:,} rows scored with {cfg['strategy']} on probe {cfg['probe']} "
        f"in {m['influence_seconds']:.1f} s (positive = up-weighting the row raises the probe)",
        "",
    ]
    with open(att.path / "top.jsonl") as f:
        top = [json.loads(line) for line in f][:n_top]
    rows = [
        (i + 1, t["row"], t["step"], f"{t['score']:.4g}", t["category"], _snippet(t["text"]))
        for i, t in enumerate(top)
    ]
    lines.append(tabulate(rows, headers=["rank", "row", "step", "influence", "category", "text"]))
    lines.append("")
    br = category_breakdown(att.table)
    rows = [
        (b["category"], f"{b['window share']:.3f}", f"{b['top share']:.3f}", f"{b['ratio']:.2f}") for b in br
    ]
    lines.append(
        tabulate(
            rows, headers=["category (token share)", "window", "top 10%", "ratio"], disable_numparse=True
        )
    )
    return lines
