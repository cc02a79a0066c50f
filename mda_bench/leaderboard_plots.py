"""The leaderboard's plots: predicted vs measured change, and causal efficacy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .attribution import STRATEGIES

HEURISTICS = ("bigram-repetition", "repeat-row", "random")


def plots(result: dict, out_dir: Path) -> list[str]:
    """A scatter of predicted vs measured area change (best strategy and the heuristics, first
    fraction) and a bar chart of causal efficacy; the report's lines that show them."""
    from .report import figure, save_figure

    board = result["lds"][0]
    measured = np.array(board["measured"]["area"])
    ranked = sorted(
        (n for n in board["strategies"] if n.split("@")[0].split("/")[0] in STRATEGIES),
        key=lambda n: -np.nan_to_num(board["strategies"][n]["area"]["lds"], nan=-9),
    )
    shown = [*ranked[:1], *(n for n in HEURISTICS if n in board["strategies"])]
    fig, axes = figure(4 * len(shown), 3.6, ncols=len(shown), squeeze=False)
    for ax, name in zip(axes[0], shown):
        pred = np.array(board["predicted"][name])
        ax.scatter(pred, measured, s=14, color="tab:blue" if name in ranked else "0.4")
        ax.set_title(f"{name}: LDS {board['strategies'][name]['area']['lds']:+.2f}", fontsize=9)
        ax.set_xlabel("predicted change (minus summed scores)")
    axes[0][0].set_ylabel("measured change of the head's area")
    save_figure(fig, out_dir / "attribution-leaderboard-lds.png")
    names = list(result["strategies"])
    fig, ax = figure(max(6, 0.8 * len(names)), 3.6)
    x = np.arange(len(names))
    for off, op, colour in ((-0.2, "remove", "tab:red"), (0.2, "augment", "tab:blue")):
        vals = [np.nan_to_num(result["strategies"][n][f"{op}_top_d_onset"] or 0.0) for n in names]
        ax.bar(x + off, vals, width=0.4, color=colour, label=f"{op} top-k")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(x, names, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("Δ onset (steps)")
    ax.legend(fontsize=8)
    save_figure(fig, out_dir / "attribution-leaderboard-efficacy.png")
    return [
        f"## Predicted vs measured change ({board['fraction']:.0%} removed)",
        "",
        "![head-LDS scatter](attribution-leaderboard-lds.png)",
        "",
        "## Causal efficacy",
        "",
        "![causal efficacy](attribution-leaderboard-efficacy.png)",
        "",
    ]
