"""Options generated from the configs (`saescope.cli.options`): one default per setting."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from saescope.cli.curate import CURATE_OPTIONS, curate, curate_config
from saescope.cli.data import (
    ACTIVATIONS_OPTIONS,
    DATASETS_EXPORT_OPTIONS,
    EMBED_OPTIONS,
    activations,
    datasets_export,
    embed,
)
from saescope.cli.demo import DEMO_OPTIONS, demo
from saescope.cli.export import EXPORT_OPTIONS, export
from saescope.cli.hypotheses import HYPOTHESES_OPTIONS, hypotheses
from saescope.cli.interpret import INTERPRET_OPTIONS, interpret
from saescope.cli.main import run
from saescope.cli.options import FIELD, Opt, build, command, escape_markup, field_of, values
from saescope.cli.sae import ENCODE_OPTIONS, TRAIN_OPTIONS, encode, train, train_run_config
from saescope.cli.seeds import SEEDS_OPTIONS, seeds
from saescope.cli.tune import TUNE_OPTIONS, tune, tune_config
from saescope.cli.viz import (
    DASHBOARD_OPTIONS,
    PLOT_OPTIONS,
    REPORT_OPTIONS,
    dashboard,
    plot,
    report,
)
from saescope.curate.config import CurateConfig
from saescope.data.config import ActivationsConfig, DatasetExportConfig, EmbedConfig
from saescope.data.seeds import SeedsConfig
from saescope.demo import DemoConfig
from saescope.errors import ConfigError
from saescope.hypotheses.config import HypothesesConfig
from saescope.interop.export import ExportConfig
from saescope.interpret.config import InterpretConfig
from saescope.sae.config import EncodeConfig, SAEConfig, TrainConfig, TrainRunConfig
from saescope.tune.config import TuneConfig
from saescope.viz.config import DashboardConfig, PlotConfig, PlotRunConfig, ReportConfig

COMMANDS = [(train, TrainRunConfig, TRAIN_OPTIONS), (tune, TuneConfig, TUNE_OPTIONS),
            (interpret, InterpretConfig, INTERPRET_OPTIONS),
            (hypotheses, HypothesesConfig, HYPOTHESES_OPTIONS),
            (curate, CurateConfig, CURATE_OPTIONS), (seeds, SeedsConfig, SEEDS_OPTIONS),
            (embed, EmbedConfig, EMBED_OPTIONS),
            (activations, ActivationsConfig, ACTIVATIONS_OPTIONS),
            (encode, EncodeConfig, ENCODE_OPTIONS), (export, ExportConfig, EXPORT_OPTIONS),
            (datasets_export, DatasetExportConfig, DATASETS_EXPORT_OPTIONS),
            (demo, DemoConfig, DEMO_OPTIONS), (plot, PlotRunConfig, PLOT_OPTIONS),
            (report, ReportConfig, REPORT_OPTIONS), (dashboard, DashboardConfig, DASHBOARD_OPTIONS)]


def _defaults(fn) -> dict:
    """The values typer passes when no option is given (required ones left as `...`)."""
    return {name: p.default.default for name, p in inspect.signature(fn).parameters.items()}


@pytest.mark.parametrize(("fn", "config", "options"), COMMANDS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_option_names_a_field_and_takes_its_default(fn, config, options):
    params = inspect.signature(fn).parameters
    assert [o.name for o in options] == list(params)
    for opt in options:
        if opt.field is None:
            continue
        default, _, doc = field_of(config, opt.field)  # raises for a field that does not exist
        given = params[opt.name].default.default
        if opt.default is FIELD:
            want = ",".join(map(str, default)) if isinstance(default, tuple) else default
            assert given == want, opt.decl
        assert params[opt.name].default.help == escape_markup((opt.help or doc).format(default=default))


def test_no_flags_give_the_config_defaults():
    opts = _defaults(interpret) | {"sae_dir": "s", "data": "d", "out": "o"}
    cfg = build(InterpretConfig, values(opts, INTERPRET_OPTIONS) | {"scorers": ("embedding",)})
    assert cfg == InterpretConfig(sae="s", data="d", out="o")
    opts = _defaults(hypotheses) | {"vectors": "v", "sae": "s", "out": "o"}
    assert build(HypothesesConfig, values(opts, HYPOTHESES_OPTIONS)) == \
        HypothesesConfig(vectors="v", sae="s", out="o")
    opts = _defaults(train) | {"input": "x.npy", "out": "o"}
    assert train_run_config(opts) == TrainRunConfig(input="x.npy", out="o")
    opts = _defaults(tune) | {"input": "x.npy", "trials": 3}
    assert tune_config(opts) == TuneConfig(input="x.npy", trials=3, base={"seed": 0})
    opts = _defaults(curate) | {"seeds": "s", "pool": "p", "out": "o", "budget": 5}
    assert curate_config(opts) == CurateConfig(seeds="s", pool="p", out="o", budget=5)
    cfg = curate_config(opts | {"features": "3, 1", "seeds": None, "sae": "m", "baselines": "random",
                                "label_field": "y", "target": "a,b", "jsonl": True})
    assert (cfg.selection.features, cfg.output.baselines, cfg.inputs.target) == ([3, 1], ["random"], ["a", "b"])
    assert cfg.inputs.seeds is None and cfg.output.write_jsonl is True
    with pytest.raises(ConfigError, match="--features: expected a comma-separated list"):
        curate_config(opts | {"features": "3,x"})
    # the commands whose config is built straight from their options
    required = {embed: {"input": "c.jsonl", "out": "e.parquet"},
                activations: {"input": "c.jsonl", "out": "a.parquet", "layer": []},
                encode: {"sae_dir": "s", "input": "x.npy", "out": "c.parquet"},
                export: {"src": "s", "format": "saelens", "out": "o"},
                datasets_export: {"name": "mmlu", "out": "m.jsonl"}, demo: {}, plot: {},
                report: {}, dashboard: {}}
    for fn, config, options in COMMANDS[6:]:
        given = required[fn]
        cfg = build(config, values(_defaults(fn) | given, options))
        fields = {o.field.split(".")[0]: o.name for o in options if o.field}
        want = config(**{f: given[name] for f, name in fields.items() if name in given})
        assert cfg == want, fn.__name__
    # a nested config's default_factory settings survive the options: the report draws no plotly
    assert build(ReportConfig, values(_defaults(report), REPORT_OPTIONS)).plot == PlotConfig(interactive=False)


def test_train_flags_override_a_config_file(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"sae": {"arch": "relu", "l1_coef": 3.0, "k": 8}, "lr": 0.01,
                                "epochs": 4}))
    opts = _defaults(train) | {"input": "x", "out": "o", "config": path, "steps": 7}
    cfg = train_run_config(opts).train
    assert (cfg.sae.arch, cfg.sae.options["l1_coef"], cfg.lr, cfg.steps) == ("relu", 3.0, 0.01, 7)
    # Another architecture drops the file's relu options; a new expansion resets num_latents.
    cfg = train_run_config(opts | {"arch": "topk", "expansion_factor": 2, "epochs": 3,
                                   "steps": None}).train
    assert cfg.sae.arch == "topk" and "l1_coef" not in cfg.sae.options and cfg.sae.k == 8
    assert (cfg.sae.expansion_factor, cfg.sae.num_latents, cfg.epochs, cfg.steps) == (2, 0, 3, None)
    assert TrainConfig().override({"sae.k": None, "seed": 3}) == TrainConfig(seed=3)


def test_command_builds_typer_parameters_from_a_config():
    @command(TuneConfig, [Opt("--target-l0", "target_l0", help="L0 (default {default})."),
                          Opt("--archs", "archs", type=str), Opt("--quiet", None, type=bool, default=False)])
    def cmd(**opts):
        """Doc."""

    params = inspect.signature(cmd).parameters
    assert params["target_l0"].default.default == 32 and params["target_l0"].annotation is int
    assert params["target_l0"].default.help == "L0 (default 32)."
    assert params["archs"].default.default == "topk,batchtopk,relu"
    assert params["quiet"].default.default is False
    with pytest.raises(AttributeError, match="no field 'nope'"):
        field_of(TuneConfig, "nope")


def test_train_and_tune_stage_contracts(tmp_path, capsys):
    from saescope.sae import run_train
    from saescope.tune import run_tune

    X = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    X[5] = np.nan
    np.save(tmp_path / "x.npy", X)
    cfg = TrainRunConfig(input=str(tmp_path / "x.npy"), out=str(tmp_path / "sae"), drop_nonfinite=True,
                         train=TrainConfig(steps=3, batch_size=64, sae=SAEConfig(k=2, num_latents=16)))
    with pytest.warns(UserWarning, match="dropped 1 rows"):
        result = run_train(cfg, progress=False)
    assert result["metrics"]["steps"] == 3 and (tmp_path / "sae" / "cfg.json").is_file()
    assert sorted(p.name for p in (tmp_path / "sae").iterdir() if p.name.startswith(".")) == \
        [".saescope-lock", ".saescope-output"]  # the output's mark and lock (io.open_output)
    np.save(tmp_path / "x.npy", np.nan_to_num(X))
    summary = run_tune(TuneConfig(input=str(tmp_path / "x.npy"), out=str(tmp_path / "t"), trials=1,
                                  archs=("topk",), expansions=(2,), target_l0=2, n_startup_trials=1,
                                  base={"steps": 2, "batch_size": 64, "device": "cpu"}),
                       progress=False)
    assert summary["n_finished"] == 1 and summary["n_val"] == 30 and summary["n_train"] == 270
    # The CLI is the same call: a finished training folder is refused without --overwrite.
    assert run(["train", tmp_path / "x.npy", "--out", tmp_path / "sae", "--quiet"]) == 2
    assert "finished training run (cfg.json); use --overwrite" in capsys.readouterr().err
