"""Training-step throughput (tokens/s) at micro and tiny scale: pytest-benchmark, not timed tests.

Run with `pytest tests/test_bench.py --benchmark-enable`; by default each runs once as a
smoke test so the default test command stays fast.
"""

import numpy as np
import pytest
import torch

from mda_bench.model import build_model
from mda_bench.scales import get_scale
from mda_bench.train import make_optimizer, row_losses, weighted_loss


@pytest.mark.parametrize("name", ["micro", "tiny"])
def test_train_step_throughput(benchmark, name):
    scale = get_scale(name)
    m, t = scale.model, scale.train
    model = build_model(m, 0)
    opt = make_optimizer(model, t)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, m.vocab_size, (t.batch_size, m.ctx), generator=g)
    weights = torch.ones(t.batch_size)

    def step():
        loss = weighted_loss(row_losses(model, tokens), weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    loss = benchmark(step)
    assert np.isfinite(loss)
    if benchmark.stats is not None:
        tokens_per_s = t.batch_size * m.ctx / benchmark.stats.stats.mean
        benchmark.extra_info["tokens_per_s"] = round(tokens_per_s)
