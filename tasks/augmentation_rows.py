"""augmentation-speedup's rows to insert: synthetic rows from the templates of the top (and of
random) attributed rows, the same dose of the recipe's own repeat rows, and corpus-row draws.

The rows are made once per command: the cross-claim pool (`branch_sets`) and `run` both need
them, and a `--generator` may be an LLM.
"""

from __future__ import annotations

import numpy as np

# keyed by the attribution, the experiment's config and the sizes
_ROWS: dict = {}


def ladder_rows(exp, first, n_template: int) -> dict:
    """inserted_rows for a ladder whose first rung is `first`: k_fraction of the rows of its
    insertion steps, from the templates of `n_template` rows."""
    n = round(exp.cfg.k_fraction * (first.insert[1] - first.insert[0]) * exp.scale.train.batch_size)
    key = (exp.attribution.key, exp.cfg, n, n_template)
    if key not in _ROWS:
        _ROWS[key] = inserted_rows(exp, n, n_template)
    return _ROWS[key]


def templates_of(exp, rows: np.ndarray):
    from mda_bench.augment import extract_templates

    return extract_templates(exp.data.stream.rows(rows), exp.data.row_texts(rows), row_ids=rows)


def inserted_rows(exp, n: int, n_template: int) -> dict:
    """The runs' row sets (n rows each): synthetic-top, synthetic-random and `draws` draws of
    corpus rows, with the templates behind the synthetic ones (from `n_template` rows) and each
    run's insertion seed."""
    from mda_bench import interventions as iv
    from mda_bench.augment import generate, load_generator, synthetic_rows, word_pool

    rows, scores = exp.scores()
    top = iv.top_k(rows, scores, n_template)
    rand = iv.random_k(exp.window.rows, n_template, seed=exp.cfg.seed + 101)
    words = word_pool([d.text for d in exp.data.documents()])
    m = exp.scale.model
    tok = exp.data.tokenizer()
    fn = load_generator(exp.cfg.generator) if exp.cfg.generator else generate

    def make(templates, seed):
        return synthetic_rows(templates, n, seed, tok, words, m.vocab_size, m.ctx, fn)

    t_top, t_rand = templates_of(exp, top), templates_of(exp, rand)
    seed = exp.cfg.seed
    runs = [
        ("synthetic-top", "top-templates", make(t_top, seed), top, seed),
        ("synthetic-random", "random-templates", make(t_rand, seed), rand, seed),
    ]
    # the same dose of the recipe's own catalyst: as many fresh repeat rows from its generator
    from mda_bench.stream import repeat_row

    rng = np.random.default_rng([seed, 43])
    rep = np.stack([repeat_row(rng, exp.scale.repeat, m.vocab_size, m.ctx) for _ in range(n)])
    runs.append(("synthetic-repeat", "repeat-rows", rep, np.zeros(0, np.int64), seed))
    for i in range(1, exp.cfg.draws + 1):  # other rows and other insertion steps per draw
        s = seed + i - 1
        drawn = np.sort(np.random.default_rng([s, 37]).choice(exp.data.stream.n_rows, n, replace=False))
        runs.append((f"corpus-rows-{i}", "random-rows", exp.data.stream.rows(drawn), drawn, s))
    return {"templates": {"synthetic-top": t_top, "synthetic-random": t_rand}, "runs": runs}
