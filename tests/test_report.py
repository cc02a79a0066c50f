import numpy as np
import pytest

from mda_bench.report import emergence_summary, head_table, plot_head_curves


def records(l1h0):
    out = []
    for step, y in zip([0, 100, 200, 300], l1h0):
        ind = np.full((2, 2), 0.02)
        ind[1, 0] = y
        out.append(
            {
                "step": step,
                "induction": ind.tolist(),
                "previous-token": np.zeros((2, 2)).tolist(),
                "copy_logprob": -6.0 + y,
                "heldout_loss": 4.0,
                "icl_score": -0.1,
            }
        )
    return out


def test_rising_head_is_found_with_its_onset():
    s = emergence_summary(records([0.01, 0.02, 0.6, 0.8]))
    assert (s["layer"], s["head"]) == (1, 0) and s["emerged"]
    assert s["onset_step"] == pytest.approx(100 + (0.4 - 0.02) / 0.58 * 100)


def test_head_that_never_rises_has_no_onset():
    s = emergence_summary(records([0.03, 0.02, 0.015, 0.01]))
    assert not s["emerged"] and s["onset_step"] is None and s["rise_10_90"] is None


def test_table_and_plot(tmp_path):
    recs = records([0.01, 0.02, 0.6, 0.8])
    table = head_table(recs[-1])
    assert "L1H0" in table and "0.800" in table
    png = plot_head_curves(recs, tmp_path / "p.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
