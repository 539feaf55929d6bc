"""docs/usage.md's quickstart (section 1), run as written on a small corpus: every stage runs and
the run folder it makes is complete for `report` and the dashboard."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from test_readme_own_data import TOPICS, VERBS

USAGE = Path(__file__).resolve().parents[2] / "docs" / "usage.md"
SKIP = ("saescope datasets export", "saescope plot", "saescope dashboard")
"""The built-in MMLU is replaced by a small corpus; `plot` draws what `report` draws (and UMAP
takes minutes); `dashboard` serves, and is checked on the run folder apart."""
SMALL = {"--n": "10", "--budget": "40"}
"""The only changes to the commands: fewer seeds and a budget below this corpus's 180 rows."""


def quickstart_block() -> list[list[str]]:
    """The commands of section 1's first bash block (continuations joined, comments dropped)."""
    text = USAGE.read_text(encoding="utf-8")
    section = text[text.index("## 1. Quickstart on your own corpus"):text.index("## 2. ")]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def write_corpus(path: Path) -> None:
    """180 short texts on six topics; astronomy and medicine are the STEM `domain`."""
    rows = [{"id": f"{topic}-{i}-{j}", "text": f"{noun.capitalize()} {verb} "
             f"{nouns[(i + j + 1) % len(nouns)]} in {topic} number {j}.", "subject": topic,
             "domain": "STEM" if topic in ("astronomy", "medicine") else "other"}
            for topic, nouns in TOPICS.items() for i, noun in enumerate(nouns)
            for j, verb in enumerate(VERBS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.slow
def test_usage_quickstart_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from saescope.cli.main import run
    from saescope.dashboard.launch import check_run_dir

    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus.jsonl")
    cmds = quickstart_block()
    assert [a[1] for a in cmds] == ["datasets", "embed", "seeds", "train", "interpret", "curate",
                                    "report", "plot", "dashboard"]
    for argv in cmds:
        if any(" ".join(argv).startswith(s) for s in SKIP):
            continue
        argv = [SMALL.get(argv[i - 1], a) if i else a for i, a in enumerate(argv)]
        assert run(argv[1:]) == 0, " ".join(argv)
    man = json.loads(Path("run/curate/manifest.json").read_text())
    assert man["n_selected"] == 40 and set(man["baselines"]) == {"embedding-centered", "random"}
    assert man["metrics"]["precision"] > man["baselines"]["random"]["precision"]
    assert Path("run/report.html").stat().st_size > 10_000
    assert check_run_dir("run").missing() == []
