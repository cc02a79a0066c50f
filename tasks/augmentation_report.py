"""augmentation-speedup's report: the per-scale table, the templates and the ladder plot."""

from __future__ import annotations

from mda_bench.claims import Section

N_SAMPLES = 4  # generated rows shown per template set

COLOURS = {"baseline": "black", "synthetic-top": "tab:blue", "synthetic-random": "tab:orange"}


def _onset(r: dict) -> str:
    return f"{'> ' if r['censored'] else ''}{r['onset']:.0f}"


COLUMNS = [
    ("rung", "scale", "{}"),
    ("run", "run", "{}"),
    ("rows", "rows inserted", "{:,}"),
    ("onset", "onset step", "{:.0f}"),
    ("d_onset", "Δ onset vs baseline", "{:+.0f}"),
    ("speedup_pct", "speed-up %", "{:+.1f}"),
    ("fixed_score", "score at baseline onset", "{:.3f}"),
    ("heldout", "held-out loss", "{:.4f}"),
    ("heldout_change", "Δ held-out", "{:+.2%}"),
]


def ladder_section(table: list[dict], rungs, scales) -> Section:
    rows = []
    for rung, sc in zip(rungs, scales):
        by = {r["run"]: r for r in table if r["rung"] == sc.name}
        b, a = by["baseline"], by["synthetic-top"]
        corpus = [r["onset"] for n, r in by.items() if n.startswith("corpus-rows")]
        cens = any(r["censored"] for n, r in by.items() if n.startswith("corpus-rows"))
        m = sc.model

        rows.append(
            [
                sc.name,
                f"{m.n_layers} x {m.d_model}, {m.n_heads} heads",
                b["head"],
                f"{rung.insert[0]}-{rung.insert[1]}",
                rung.horizon,
                _onset(by["baseline"]),
                _onset(by["synthetic-top"]),
                f"{min(corpus):.0f} to {'> ' if cens else ''}{max(corpus):.0f} ({len(corpus)} draws)",
                _onset(by["synthetic-random"]),
                _onset(by["synthetic-repeat"]),
                f"{b['onset'] - a['onset']:+.0f} ({a['speedup_pct']:+.1f}%)",
                f"{b['fixed_score']:.3f} / {a['fixed_score']:.3f}",
                f"{b['heldout']:.4f} / {a['heldout']:.4f}",
            ]
        )
    return Section(
        "Per scale: onsets and costs",
        [
            "scale",
            "shape",
            "head",
            "insertion steps",
            "horizon",
            "baseline onset",
            "synthetic-top onset",
            "corpus-rows onsets",
            "synthetic-random onset",
            "synthetic-repeat onset",
            "speed-up vs baseline",
            "score at baseline onset (base / synthetic-top)",
            "held-out loss (base / synthetic-top)",
        ],
        rows,
    )


def templates_section(sets: dict, exp, n_template_rows: int, n_samples: int = N_SAMPLES) -> Section:
    """Every template (top and random rows) and a few generated rows, decoded."""
    tok = exp.data.tokenizer()
    parts = []
    for name, ts in sets["templates"].items():
        kinds = {k: sum(t.kind == k for t in ts) for k in ("repeat", "lines")}
        parts.append(
            f"**{name}**: {len(ts)} distinct templates from {n_template_rows} rows "
            f"({kinds['repeat']} repeat, {kinds['lines']} line skeletons)\n\n```text"
        )
        for t in ts:
            parts.append(f"[row {t.source_row}, {t.kind}] " + t.describe().replace("\n", "\n    "))
        parts.append("```\n")
        parts.append(f"Generated rows ({name}), the first {n_samples}, decoded:\n\n```text")
        rows = next(r[2] for r in sets["runs"] if r[0] == name)
        for row in rows[:n_samples]:
            parts.append(repr(tok.decode(row.tolist()))[:300])
        parts.append("```\n")
    return Section("Templates and generated rows", text="\n".join(parts))


def ladder_plot(exp, results, name: str = "augmentation-speedup.png") -> tuple[str, str]:
    """One panel per rung: the target head's score for the baseline and each insertion run."""
    from mda_bench.claim_plots import save_plot
    from mda_bench.experiment import head_curve
    from mda_bench.report import figure

    fig, axes = figure(4.2 * len(results), 3.6, len(results), squeeze=False)
    for ax, (rung, sc, baseline, unit, branches) in zip(axes[0], results):
        seen = set()
        for run_name, records in [("baseline", baseline.records)] + [
            (b.spec.name, b.records) for b in branches
        ]:
            steps, ys, _ = head_curve(records, unit, rung.insert[0], rung.horizon, "heldout_loss")
            group = "corpus-rows draws" if run_name.startswith("corpus-rows") else run_name
            ax.plot(
                steps,
                ys,
                color=COLOURS.get(run_name, "0.6"),
                lw=1.6 if run_name == "synthetic-top" else 1.0,
                label=None if group in seen else group,
                zorder=3 if run_name in COLOURS else 2,
            )
            seen.add(group)
        ax.axvspan(*rung.insert, color="tab:blue", alpha=0.07, lw=0)
        ax.axhline(exp.cfg.onset_fraction * unit["final_score"], color="0.4", ls=":", lw=1)
        ax.set_title(f"{sc.name}: L{unit['layer']}H{unit['head']}", fontsize=9)
        ax.set_xlabel("step (insertion shaded)")
    axes[0][0].set_ylabel(f"{unit['score']} score")
    axes[0][0].legend(fontsize=7, loc="upper left")
    save_plot(fig, exp, name)
    return ("Target head's score per scale (dotted: onset level)", name)
