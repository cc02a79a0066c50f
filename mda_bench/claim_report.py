"""Claim reports: the runs table, the verdict and its rule, plots, and the per-scale summary.

`reports/<scale>/<claim>.md` (with its PNGs and a `<claim>.json` of the numbers) and
`reports/<scale>/README.md`, the summary table across every claim that has a result.
"""

from __future__ import annotations

import json
from pathlib import Path

from .claims import TaskResult

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
        *official_lines(exp),
        f"- onset = first step reaching {exp.cfg.onset_fraction:g} x the baseline's final score "
        "(interpolated); area = trapezoid area under the score over the window",
    ]


def official_lines(exp) -> list[str]:
    if not exp.baseline.official:
        return []
    from .official import describe

    return describe(exp)


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
    if (out_dir / "attribution-leaderboard.md").exists():
        links.append("- [attribution leaderboard](attribution-leaderboard.md) (`mda-bench validate`)")
    for sub in sorted(p for p in out_dir.iterdir() if (p / "README.md").is_file()):
        title = (sub / "README.md").read_text().splitlines()[0].removeprefix("# Results: ")
        links.append(f"- [{sub.name}/]({sub.name}/README.md): {title}")
    return ["Other reports:", "", *links, ""] if links else []
