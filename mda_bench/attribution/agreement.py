"""How far attribution strategies agree on one window, against a reference (default `exact`).

For each strategy: Spearman and Pearson correlation of its scores with the reference's over
every window row, the overlap of their top 1% / 5% / 10% (10% is the claims' k; chance is the
fraction itself), and the category token shares of its top 10%. Written as
`attribution-agreement.md` / `.json` / `.png` next to the claim reports (no timings, so the
files reproduce byte for byte). All higher is better: these numbers say how much a claim's
top-k depends on the Hessian approximation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..claim_report import markdown_table
from ..metrics import pearson, spearman, top_overlap
from ..report import figure, save_figure
from .stage import Attribution, category_breakdown

AGREEMENT_VERSION = 1
FRACTIONS = (0.01, 0.05, 0.10)
CURVE_FRACTIONS = np.geomspace(0.001, 0.5, 40)  # the plot's x axis


def _scores(att: Attribution) -> np.ndarray:
    return np.array([r["score"] for r in att.table])


def agreement_rows(atts: dict[str, Attribution], reference: str) -> list[dict]:
    """One row per strategy (the reference last, agreeing with itself) with every metric."""
    ref_rows = [r["row"] for r in atts[reference].table]
    ref = _scores(atts[reference])
    out = []
    for name, att in sorted(atts.items(), key=lambda kv: kv[0] == reference):
        if [r["row"] for r in att.table] != ref_rows:
            raise ValueError(f"{name} scored other rows than {reference}; compare one window")
        s = _scores(att)
        row = {"strategy": name, "spearman": spearman(s, ref), "pearson": pearson(s, ref)}
        row |= {f"top {f:.0%}": top_overlap(s, ref, f) for f in FRACTIONS}
        row["top 10% shares"] = {c["category"]: c["top share"] for c in category_breakdown(att.table)}
        out.append(row)
    return out


def summary_table(rows: list[dict]) -> str:
    headers = ["strategy", "Spearman", "Pearson", *(f"top {f:.0%} overlap" for f in FRACTIONS)]
    body = [
        [r["strategy"], f"{r['spearman']:.3f}", f"{r['pearson']:.3f}"]
        + [f"{r[f'top {f:.0%}']:.3f}" for f in FRACTIONS]
        for r in rows
    ]
    return markdown_table(headers, body)


def category_table(rows: list[dict], att: Attribution) -> str:
    base = {c["category"]: c["window share"] for c in category_breakdown(att.table)}
    headers = ["category", "window", *(r["strategy"] for r in rows)]
    body = [[c, f"{w:.3f}", *(f"{r['top 10% shares'][c]:.3f}" for r in rows)] for c, w in base.items()]
    return markdown_table(headers, body)


def plot(atts: dict[str, Attribution], reference: str, out: Path) -> None:
    """Left: top-k overlap with the reference against k. Right: rank against rank, per row,
    for the first other strategy."""
    ref = _scores(atts[reference])
    others = [n for n in atts if n != reference]
    fig, (left, right) = figure(10, 4.2, 2)
    for name in others:
        s = _scores(atts[name])
        left.plot(CURVE_FRACTIONS, [top_overlap(s, ref, f) for f in CURVE_FRACTIONS], lw=1.6, label=name)
    left.plot(CURVE_FRACTIONS, CURVE_FRACTIONS, color="0.5", ls=":", label="chance")
    left.axvline(0.1, color="0.7", lw=1, ls="--", label="the claims' k (10%)")
    left.set(xscale="log", ylim=(0, 1.02), xlabel="top fraction of the window's rows")
    left.set_ylabel(f"overlap with {reference}'s top rows")
    left.legend(fontsize=8)
    if others:
        n = len(ref)
        pct = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable") / max(1, n - 1)  # noqa: E731
        hb = right.hexbin(pct(ref), pct(_scores(atts[others[0]])), gridsize=40, bins="log", cmap="viridis")
        fig.colorbar(hb, ax=right, label="rows")
        right.set(xlabel=f"{reference} rank percentile", ylabel=f"{others[0]} rank percentile")
    save_figure(fig, out)


def write_agreement_report(
    atts: dict[str, Attribution], reference: str, out_dir: Path, scale: str, command: str
) -> Path:
    """attribution-agreement.md / .json / .png into out_dir (`attribution-agreement-empirical`
    for the empirical Fisher, so the two never overwrite each other); returns the .md path."""
    rows = agreement_rows(atts, reference)
    ref = atts[reference]
    u = ref.unit
    empirical = ref.manifest["config"]["influence"]["empirical_fisher"]
    name = "attribution-agreement" + ("-empirical" if empirical else "")
    plot(atts, reference, out_dir / f"{name}.png")
    lines = [
        f"# attribution agreement (version {AGREEMENT_VERSION}, scale `{scale}`)",
        "",
        f"How far each strategy's influence scores agree with `{reference}` on the same window. "
        "Every metric: higher means closer to the reference; top-k overlap by chance equals the "
        "fraction itself.",
        "",
        f"- unit: {u['unit']}, head L{u['layer']}H{u['head']}; window steps {u['window'][0]}-"
        f"{u['window'][1]} ({len(ref.table):,} rows), scored at checkpoint {u['checkpoint']}",
        f"- probe: {ref.manifest['config']['influence']['probe']}; Fisher: "
        + ("empirical (data labels)" if empirical else "sampled labels"),
        f"- command: `{command}`",
        "",
        "## Agreement with the reference",
        "",
        summary_table(rows),
        "",
        "## Category token share of each strategy's top 10%",
        "",
        category_table(rows, ref),
        "",
        "## Plot",
        "",
        f"![top-k overlap and rank agreement]({name}.png)",
        "",
        "Attributions: " + ", ".join(f"{n} `{a.key}`" for n, a in sorted(atts.items())),
        "",
    ]
    md = out_dir / f"{name}.md"
    md.write_text("\n".join(lines))
    (out_dir / f"{name}.json").write_text(json.dumps({"reference": reference, "rows": rows}, indent=2) + "\n")
    return md
