"""The score does not reward a weaker penalty, and the search space is what it says."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from saescope.errors import ConfigError, InputError
from saescope.tune import TuneConfig, fvu_at_l0_score, train_val_split
from saescope.tune.objective import suggest_params


def test_score_penalises_l0_over_target_only():
    # At or under the target the score is the FVU itself.
    assert fvu_at_l0_score(0.3, 8, 8, 10.0) == pytest.approx(0.3)
    assert fvu_at_l0_score(0.3, 2, 8, 10.0) == pytest.approx(0.3)
    # 50% over the target with penalty 10 adds 5; with a 5% tolerance, 4.5.
    assert fvu_at_l0_score(0.1, 12, 8, 10.0) == pytest.approx(0.1 + 10 * 0.5)
    assert fvu_at_l0_score(0.1, 12, 8, 10.0, 0.05) == pytest.approx(0.1 + 10 * 0.45)
    assert fvu_at_l0_score(0.1, 8.4, 8, 10.0, 0.05) == pytest.approx(0.1)
    assert fvu_at_l0_score(math.nan, 8, 8, 10.0) == math.inf


def test_weaker_penalty_with_high_l0_scores_worse_than_meeting_target():
    # A tiny-lambda relu SAE reconstructs almost perfectly but with L0 far above the target;
    # training loss (or plain FVU) would prefer it, the score must not.
    d = TuneConfig()
    tiny_lambda = fvu_at_l0_score(0.01, 60, 8, d.l0_penalty, d.l0_tolerance)
    at_target = fvu_at_l0_score(0.6, 8, 8, d.l0_penalty, d.l0_tolerance)
    assert tiny_lambda > at_target
    # With the defaults, 10% over the target already costs more than any FVU <= 1.
    assert fvu_at_l0_score(0.0, 8.8, 8, d.l0_penalty, d.l0_tolerance) >= fvu_at_l0_score(
        0.99, 8, 8, d.l0_penalty, d.l0_tolerance)


def test_k_fixed_to_target_in_fvu_at_l0_and_searched_in_pareto():
    penalty = {"relu": "l1_coef"}
    cfg = TuneConfig(trials=1, target_l0=6, archs=("topk", "relu"), expansions=(2, 4))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        params = suggest_params(study.ask(), cfg, penalty)
        seen.add(params["arch"])
        if params["arch"] == "topk":
            assert params["k"] == 6 and "l1_coef" not in params
        else:
            assert "k" not in params and 1e-3 <= params["l1_coef"] <= 10
        assert cfg.lr_range[0] <= params["lr"] <= cfg.lr_range[1]
        assert params["expansion"] in (2, 4)
    assert seen == {"topk", "relu"}
    pareto = TuneConfig(trials=1, objective="pareto", target_l0=8, archs=("topk",), k_range=(2, 30))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    ks = {suggest_params(study.ask(), pareto, penalty)["k"] for _ in range(30)}
    assert len(ks) > 3 and min(ks) >= 2 and max(ks) <= 30


def test_split_is_disjoint_complete_and_seeded():
    tr, va = train_val_split(1000, 0.1, seed=7)
    assert len(va) == 100 and len(tr) == 900
    assert not set(tr) & set(va) and set(tr) | set(va) == set(range(1000))
    tr2, va2 = train_val_split(1000, 0.1, seed=7)
    assert (va == va2).all() and (tr == tr2).all()
    assert set(train_val_split(1000, 0.1, seed=8)[1]) != set(va)
    groups = np.arange(1000) // 10  # e.g. paragraphs of one document
    tr, va = train_val_split(1000, 0.1, seed=7, groups=groups)
    assert not set(groups[tr]) & set(groups[va]) and len(tr) + len(va) == 1000
    with pytest.raises(InputError):
        train_val_split(5, 0.01, seed=0)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"objective": "fvu"}, "objective"),
        ({"sampler": "nsga2"}, "nsga2"),
        ({"lr_range": (1e-2, 1e-4)}, "lr_range"),
        ({"trials": 0}, "trials"),
        ({"expansions": ()}, "expansions"),
        ({"enqueue": [{"arch": "topk", "expansion": 3}]}, "expansion 3"),
        ({"enqueue": [{"arch": "topk", "l1": 0.1}]}, "l1"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        TuneConfig(**kwargs)
