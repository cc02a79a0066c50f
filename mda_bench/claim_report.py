"""Claim reports: the runs table, the verdict and its rule, plots, and the per-scale summary.

`reports/<scale>/<claim>.md` (with its PNGs and a `<claim>.json` of the numbers) and
`reports/<scale>/README.md`, the summary table across every claim that has a result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .claims import TaskResult
from .report import figure, save_figure

COLUMNS = [
    ("run", "run", "{}"),
    ("operation", "operation", "{}"),
    ("selection", "selection", "{}"),
    ("k", "k", "{}"),
    ("onset", "onset step", "{:.0f}"),
    ("d_onset", "Δ onset", "{:+.0f}"),
    ("area", "area", "{:.2f}"),
    ("d_area", "Δ area", "{:+.2f}"),
    ("end_score", "score at window end", "{:.3f}"),
    ("icl_end", "ICL at window end", "{:.3f}"),
    ("d_icl", "Δ ICL", "{:+.3f}"),
]


def _cell(row: dict, key: str, fmt: str) -> str:
    text = fmt.format(row[key])
    if key == "onset" and row.get("censored"):
        return f"> {text}"  # never reached the onset level before the horizon
    return text


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def runs_markdown(table: list[dict], columns=COLUMNS) -> str:
    if table and all("seed" in r for r in table) and columns[0][0] != "seed":
        columns = [("seed", "seed", "{}"), *columns]  # a multi-seed table: which baseline
    return markdown_table([c[1] for c in columns], [[_cell(r, k, f) for k, _, f in columns] for r in table])


def _save(fig, exp, name: str) -> None:
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
    _save(fig, runs[0][0], name)
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


def write_report(
    result: TaskResult, exp, out_dir: Path, command: str, config_hash: str, protocol: dict
) -> Path:
    """Write <claim>.md, its plots and <claim>.json into out_dir; return the .md path.

    `protocol` (mda_bench.protocol.describe) is hashed into the header: the rule, thresholds,
    sizes and seeds the verdict was decided under, and whether they are the registered ones."""
    import shutil

    out_dir.mkdir(parents=True, exist_ok=True)
    c, v = result.claim, result.verdict
    lines = [
        f"# {c.id} (task version {c.version}, scale `{exp.scale.name}`)",
        "",
        f"Protocol `{protocol['hash']}`: {protocol['status']}.",
        "",
        f"**The paper's claim:** {c.claim}.",
        "",
        f"**Verdict: {v.verdict}.**",
        "",
        f"Rule: {v.rule}",
        "",
        *[f"- {r}" for r in v.reasons],
        "",
        "## Setup",
        "",
        *(result.setup or _setup_lines(exp)),
        *_seed_lines(result.data.get("seeds", [])),
        "- metrics: "
        + "; ".join(
            f"`{m.name}` ({'higher' if m.higher_is_better else 'lower'} supports the claim)"
            for m in c.metrics
        ),
        f"- command: `{command}`",
        f"- config hash: `{config_hash}`",
        "",
        "## Runs",
        "",
        runs_markdown(result.table, result.columns or COLUMNS),
        "",
    ]
    for s in result.sections:
        lines += [f"## {s.title}", ""]
        if s.text:
            lines += [s.text, ""]
        if s.headers:
            lines += [markdown_table(s.headers, s.rows), ""]
    for caption, name in result.plots:
        shutil.copyfile(exp.store.root / "plots" / name, out_dir / name)
        lines += [f"## {caption}", "", f"![{caption}]({name})", ""]
    md = out_dir / f"{c.id}.md"
    md.write_text("\n".join(lines))
    summary = {
        "claim": c.id,
        "version": c.version,
        "verdict": v.verdict,
        "reasons": list(v.reasons),
        "command": command,
        "config_hash": config_hash,
        "protocol": protocol,
        "table": result.table,
        **result.data,
    }
    (out_dir / f"{c.id}.json").write_text(json.dumps(summary, indent=1, sort_keys=True, default=_plain))
    return md


def _seed_lines(seeds: list[dict]) -> list[str]:
    """One line naming every independent baseline and its unit (multi-seed claims)."""
    if len(seeds) < 2:
        return []
    each = "; ".join(
        f"seed {s['seed']}/{s['order_seed']}: L{s['unit']['layer']}H{s['unit']['head']} "
        f"(final {s['unit']['final_score']:.3f}{'' if s['unit']['rose'] else ', did not rise'})"
        for s in seeds
    )
    return [
        f"- {len(seeds)} independent baselines (init seed/order seed: unit): {each}; the unit and "
        "window line above is the first one's"
    ]


def _plain(x):
    """numpy scalars and arrays in the report JSON."""
    return x.tolist() if hasattr(x, "tolist") else str(x)


def _setup_lines(exp) -> list[str]:
    u, w = exp.unit, exp.window
    probe = exp.attribution.manifest["config"]["influence"]["probe"]
    return [
        f"- unit: {u['unit']}, head L{u['layer']}H{u['head']} ({u['score']} score "
        f"{u['start_score']:.3f} at the window start, {u['final_score']:.3f} at the baseline's end)",
        f"- window: steps {w.start}-{w.end} ({len(w.rows):,} rows); branches run to step {exp.horizon}; "
        f"k = {exp.k} rows ({exp.cfg.k_fraction:.0%} of the window)",
        f"- attribution: {exp.cfg.strategy}, probe {probe}",
        *band_lines(exp),
        f"- onset = first step reaching {exp.cfg.onset_fraction:g} x the baseline's final score "
        "(interpolated); area = trapezoid area under the score over the window",
    ]


def band_lines(exp) -> list[str]:
    """Both probes named, where the scale reports the frequency-band probe beside the unit's."""
    if tuple(exp.scale.probe.band) == (0.0, 0.0):
        return []
    from .probe_curves import describe_probes

    return describe_probes(exp.scale, exp.data.stream, exp.baseline.records, exp.baseline.path)


def write_summary(out_dir: Path, claims, label: str) -> Path:
    """reports/<scale>/README.md: one line per claim, from the claims' saved results."""
    rows = []
    for cid in claims:
        f = out_dir / f"{cid}.json"
        if f.exists():
            s = json.loads(f.read_text())
            stale = s["version"] != claims[cid].version
            rows.append(
                [
                    f"[{cid}]({cid}.md)",
                    f"{s['verdict']} (STALE: task version {s['version']}, current {claims[cid].version})"
                    if stale
                    else s["verdict"],
                    s["reasons"][0] if s["reasons"] else "",
                    f"`{s['command']}`",
                ]
            )
        else:
            rows.append([cid, "not run", "", ""])
    text = "\n".join(
        [
            f"# Results: {label}",
            "",
            "Generated by `mda-bench run`; each verdict follows from the measured numbers by the rule "
            "stated in its report.",
            "",
            markdown_table(["claim", "verdict", "first reason", "command"], rows),
            "",
            *_other_reports(out_dir),
        ]
    )
    path = out_dir / "README.md"
    path.write_text(text)
    return path


def _other_reports(out_dir: Path) -> list[str]:
    """Links to the attribution-agreement report and to result folders of other units or
    strategies (`mda-bench run --strategy exact` writes to <scale>/exact/), where present."""
    links = []
    for md, how in (
        ("attribution-agreement.md", ""),
        ("attribution-agreement-empirical.md", " --empirical-fisher"),
    ):
        if (out_dir / md).exists():
            links.append(f"- [attribution agreement{how}]({md}) (`mda-bench agreement{how}`)")
    for sub in sorted(p for p in out_dir.iterdir() if (p / "README.md").is_file()):
        title = (sub / "README.md").read_text().splitlines()[0].removeprefix("# Results: ")
        links.append(f"- [{sub.name}/]({sub.name}/README.md): {title}")
    return ["Other reports:", "", *links, ""] if links else []


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
    _save(fig, exp, name)
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
    _save(fig, exp, name)
    return ("ICL strength against the induction score", name)
