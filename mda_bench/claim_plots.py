"""The plots of claim reports: each run's curve of the target head, category enrichment, and
induction vs ICL. Each is saved under the store's plots/ (write_report copies it next to the
report) and returns (caption, file name)."""

from __future__ import annotations

import numpy as np

from .report import figure, save_figure


def save_plot(fig, exp, name: str) -> None:
    """Save under the store's plots/ (write_report copies it next to the report) and close."""
    save_figure(fig, exp.store.root / "plots" / name)


def curves_plot(runs: list[tuple], name: str) -> tuple[str, str]:
    """Target head's curve per seed (one panel each): baseline, targeted runs, and the drawn
    runs (random, category-matched, seed noise) as bands. `runs`: [(experiment, branches)]."""
    fig, axes = figure(min(7 * len(runs), 18), 4.2, ncols=len(runs), squeeze=False)
    for ax, (exp, branches) in zip(axes[0], runs):
        _curves_panel(ax, exp, branches)
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{runs[0][0].scale.name}: {name.removesuffix('.png')}")
    save_plot(fig, runs[0][0], name)
    return ("Target head's score per run" + (", one panel per seed" if len(runs) > 1 else ""), name)


def _curves_panel(ax, exp, branches) -> None:
    from .experiment import reference_final, unit_curve

    steps, base, _ = unit_curve(exp, exp.baseline.records)
    groups: dict[tuple[str, str], list[np.ndarray]] = {}
    palette = iter(["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown"])
    for b in branches:
        s, ys, _ = unit_curve(exp, b.records)
        if b.spec.selection in ("random", "matched-random", "none"):  # drawn: shown as a band
            groups.setdefault((b.spec.operation, b.spec.selection), []).append(np.interp(steps, s, ys))
        else:
            label = f"{b.spec.name} ({b.spec.k:,} rows)"
            ax.plot(s, ys, color=next(palette, "0.3"), lw=1.8, label=label, zorder=3)
    colours = {"remove": "tab:red", "augment": "tab:blue", "reorder": "0.5", "identity": "0.2"}
    hatch = {"matched-random": "//"}
    for (op, sel), curves in groups.items():
        c = np.array(curves)
        label = "seed noise (reorder)" if op == "reorder" else f"{sel.replace('-', ' ')} {op} ({len(curves)})"
        if op == "identity":
            ax.plot(steps, c[0], color="0.2", lw=0.8, ls="--", label="identity branch")
            continue
        ax.fill_between(
            steps,
            c.min(0),
            c.max(0),
            color=colours.get(op, "0.7"),
            alpha=0.15,
            label=label,
            lw=0,
            hatch=hatch.get(sel),
        )
    ax.plot(steps, base, color="black", lw=1.5, label="baseline", zorder=4)
    level = exp.cfg.onset_fraction * reference_final(exp)
    ax.axhline(level, color="0.4", ls=":", lw=1, label=f"onset level ({level:.2f})")
    ax.axvspan(exp.window.start, exp.window.end, color="0.97", zorder=0)
    u = exp.unit
    ax.set_xlabel("step (window shaded)")
    ax.set_ylabel(f"{u['score']} score, L{u['layer']}H{u['head']}")
    ax.set_title(f"seed {exp.cfg.seed} (order seed {exp.cfg.order_seed})", fontsize=9)


def enrichment_plot(exp, top: list[dict], bottom: list[dict], name: str) -> tuple[str, str]:
    """Bars per category: window base rate, top-k share and bottom-k share."""
    cats = [e["category"] for e in top]
    x = np.arange(len(cats))
    fig, ax = figure(7.5, 3.8)
    for i, (label, vals, colour) in enumerate(
        (
            ("window base rate", [e["base"] for e in top], "0.6"),
            (f"top-k (k = {exp.k})", [e["top"] for e in top], "tab:red"),
            ("bottom-k", [e["top"] for e in bottom], "tab:blue"),
        )
    ):
        ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=label, color=colour)
    for xi, e in zip(x, top):
        if e["p"] < 0.05 and e["ratio"] > 1:
            ax.text(xi, max(e["top"], e["base"]) + 0.02, "*", ha="center")
    ax.set_xticks(x, cats, rotation=20)
    ax.set_ylabel("share of rows")
    ax.set_title(f"{exp.scale.name}: categories of the top-k rows (* one-sided p < 0.05)")
    ax.legend(fontsize=8)
    save_plot(fig, exp, name)
    return ("Category shares of the top-k, bottom-k and window", name)


def icl_scatter_plot(exp, ind, icl_strength, labels: list[str], name: str) -> tuple[str, str]:
    """ICL strength against the induction score, one point per run and checkpoint."""
    fig, ax = figure(6.5, 4.5)
    colours = {"baseline": "black", "remove-top": "tab:red", "augment-top": "tab:blue"}

    def group(label: str) -> str:
        if label in colours or label.endswith("structural"):
            return label
        return (
            "random draws"
            if "random" in label
            else "category-matched draws"
            if "matched" in label
            else "seed noise (reorder)"
            if "reorder" in label
            else label
        )

    labels = np.array([group(lab) for lab in labels])
    for g in dict.fromkeys(labels):
        m = labels == g
        c = colours.get(
            g,
            {
                "random draws": "0.65",
                "category-matched draws": "tab:olive",
                "seed noise (reorder)": "0.4",
            }.get(g),
        )
        ax.scatter(ind[m], icl_strength[m], s=10, alpha=0.7, label=g, color=c)
    ax.set_xlabel(f"induction score (L{exp.unit['layer']}H{exp.unit['head']})")
    ax.set_ylabel("ICL strength (early - late loss, nats)")
    ax.set_title(f"{exp.scale.name}: ICL vs induction, every run and checkpoint")
    ax.legend(fontsize=7)
    save_plot(fig, exp, name)
    return ("ICL strength against the induction score", name)
