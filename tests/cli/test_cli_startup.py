"""`saescope --help` and `saescope version` must not pay for torch, transformers or streamlit:
the heavy libraries are imported inside the commands that use them (benchmarks/cli_startup.py
prints the start-up time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "sentence_transformers", "streamlit", "sklearn", "scipy.stats", "pandas",
         "matplotlib", "plotly", "umap")

_PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(body: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2] / "src"))
    out = subprocess.run([sys.executable, "-c", _PROBE.format(body=body, heavy=HEAVY)], env=env,
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_library():
    assert _loaded("import saescope.cli.main") == []


def test_help_and_version_import_no_heavy_library():
    body = ("from saescope.cli.main import run\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert run(['--help']) == 0 and run(['version']) == 0 and run(['curate', '--help']) == 0")
    assert _loaded(body) == []


def test_stage_packages_import_lazily():
    # `import saescope.sae` (for a config) must not import the training code and torch with it.
    assert _loaded("import saescope.sae, saescope.interpret, saescope.curate, saescope.tune, "
                   "saescope.hypotheses, saescope.data\nfrom saescope.sae import SAEConfig") == []
    from saescope.sae import SparseAutoencoder, TrainConfig  # the names still resolve

    assert SparseAutoencoder.__module__ == "saescope.sae.model" and TrainConfig.__name__ == "TrainConfig"


def test_command_table_names_every_command_and_its_stage():
    import typer

    from saescope.cli.main import COMMANDS, STAGE_MODULES, build_app

    full = typer.main.get_command(build_app())
    assert list(full.commands) == list(COMMANDS)  # type: ignore[attr-defined]
    for name, (stage, text) in COMMANDS.items():
        cmd = full.commands[name]  # type: ignore[attr-defined]
        assert (cmd.help or "").split("\n\n")[0].strip() == text, name
        one = typer.main.get_command(build_app(() if stage is None else (stage,)))
        assert name in one.commands, (name, stage)  # type: ignore[attr-defined]
        assert stage is None or stage in STAGE_MODULES


def test_top_level_help_from_the_table_is_the_whole_apps(monkeypatch):
    """`saescope --help` is drawn without loading a stage; it must read exactly as the full app's."""
    from typer.testing import CliRunner

    from saescope.cli import main as m

    monkeypatch.setenv("COLUMNS", "100")
    runner = CliRunner()
    quick = runner.invoke(m._app_for(["--help"]), ["--help"], prog_name="saescope")
    full = runner.invoke(m.build_app(), ["--help"], prog_name="saescope")
    assert quick.exit_code == full.exit_code == 0
    assert quick.output == full.output and "seeds" in quick.output
