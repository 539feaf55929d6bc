"""docs/cli.md must match the `--help` output of the app (scripts/gen_cli_reference.py)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_cli_reference.py"
DOC = ROOT / "docs" / "cli.md"
REGENERATE = f"docs/cli.md is out of date with the CLI; run: {sys.executable} {SCRIPT}"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(gen) -> str:
    return gen.render()


def _skip_unless_same_renderer(gen) -> None:
    """Help text layout depends on typer/click/rich versions: compare only under the ones that wrote it."""
    if gen.renderer_versions() not in DOC.read_text(encoding="utf-8"):
        pytest.skip(f"docs/cli.md was rendered with other library versions than {gen.renderer_versions()}")


def test_docs_cli_md_is_up_to_date(gen, rendered: str) -> None:
    assert DOC.is_file(), REGENERATE
    _skip_unless_same_renderer(gen)
    assert DOC.read_text(encoding="utf-8") == rendered, REGENERATE


def test_every_command_and_subcommand_is_documented(gen, rendered: str) -> None:
    import typer

    from saescope.cli.main import app

    names = {" ".join(("saescope", *p)) for p, _ in gen.walk(typer.main.get_command(app))}
    # The app has top-level commands and at least one group with sub-commands.
    assert {"saescope", "saescope train", "saescope datasets export"} <= names
    headings = set(re.findall(r"^## (saescope.*)$", rendered, flags=re.M))
    assert headings == names
    # Each section holds that command's own help, not its parent's.
    section = rendered.split("## saescope datasets export\n", 1)[1]
    assert "Usage: saescope datasets export [OPTIONS]" in section.split("```", 2)[1]


def test_help_is_plain_text_at_fixed_width(rendered: str) -> None:
    assert "\x1b[" not in rendered  # no ANSI colour codes, whatever the CI environment sets
    widths = {len(line) for line in rendered.splitlines() if line.startswith("╭─ Options")}
    assert widths == {100}
    assert not any(line != line.rstrip() for line in rendered.splitlines())


def test_check_mode_fails_on_a_stale_file(gen, rendered: str, tmp_path: Path, capsys) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text(DOC.read_text(encoding="utf-8").replace("--out", "--output", 1))
    assert gen.main(["--check", "--out", str(stale)], text=rendered) == 1
    assert "out of date" in capsys.readouterr().err
    assert stale.read_text(encoding="utf-8") != DOC.read_text(encoding="utf-8")  # not rewritten


def test_script_check_passes_even_when_ci_forces_colour(gen) -> None:
    _skip_unless_same_renderer(gen)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GITHUB_ACTIONS": "true", "FORCE_COLOR": "1",
           "COLUMNS": "37", "TERMINAL_WIDTH": "61"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
