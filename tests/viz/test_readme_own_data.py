"""The README's "Use it on your own data" block, run as written on a small corpus, gives a full
report: data, SAE, interpret and curate all present (issue 12, item 2); its Python block runs
on the same files."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
TOPICS = {
    "astronomy": ["the planet", "a distant galaxy", "the telescope", "a comet", "the orbit of the moon"],
    "baking": ["the sourdough", "a loaf of rye bread", "the oven", "the pastry dough", "a sponge cake"],
    "chess": ["the opening", "a knight fork", "the endgame", "a queen sacrifice", "the rook"],
    "finance": ["the interest rate", "a bond portfolio", "the stock market", "an index fund", "the loan"],
    "medicine": ["the vaccine", "a blood test", "the patient", "an antibiotic", "the surgery"],
    "sailing": ["the mainsail", "a sailboat", "the harbour", "the tide", "a storm at sea"],
}
VERBS = ["is described in", "was studied for", "matters most for", "changes with", "explains",
         "is the subject of"]
SKIP = ("saescope activations", "--explainer llm", "saescope tune", "saescope dashboard")
"""Lines of the block that need an LLM, a server or minutes; `dashboard` is checked apart."""


def own_data_block() -> list[list[str]]:
    """The commands of the README's own-data block (continuations joined, comments dropped)."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Use it on your own data.*?```bash\n(.*?)```", text, re.S).group(1)
    block = block.replace("\\\n", " ")
    cmds = []
    for line in block.splitlines():
        line = line.split("  #")[0].strip()
        for part in line.split("&&"):
            if part.strip():
                cmds.append(shlex.split(part, comments=True))
    return cmds


def python_block() -> str:
    """The README's Python example (the block after the own-data block)."""
    text = README.read_text(encoding="utf-8")
    own = text.index("## Use it on your own data")
    return re.search(r"```python\n(.*?)```", text[own:], re.S).group(1)


def write_corpus(folder: Path) -> None:
    rows, seeds = [], []
    for t, (topic, nouns) in enumerate(TOPICS.items()):
        for i, noun in enumerate(nouns):
            for j, verb in enumerate(VERBS):
                rows.append({"id": f"{topic}-{i}-{j}", "text": f"{noun.capitalize()} {verb} "
                             f"{nouns[(i + j + 1) % len(nouns)]} in {topic} number {j + 7 * t}.",
                             "topic": topic,
                             # a two-valued label (docs/usage.md's `hypotheses` takes it)
                             "label": "astronomy" if topic == "astronomy" else "other"})
        seeds += [{"id": f"seed-{topic}-{i}", "text": f"A question about {noun} and {topic}."}
                  for i, noun in enumerate(nouns)] if topic == "astronomy" else []
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "seeds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in seeds))


@pytest.mark.slow
def test_readme_own_data_block_gives_a_full_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from saescope.cli.main import run
    from saescope.dashboard.launch import check_run_dir

    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path)
    cmds = own_data_block()
    ran = []
    for argv in cmds:
        line = " ".join(argv)
        if argv[0] != "saescope" or any(s in line for s in SKIP):
            continue
        # the only changes: fewer seeds and a budget below this small corpus's 180 rows
        for flag, value in (("--budget", "60"), ("--n", "10")):
            if flag in argv:
                argv = [*argv]
                argv[argv.index(flag) + 1] = value
        assert run(argv[1:]) == 0, line
        ran.append(argv[1])
    stages = ["embed", "seeds", "train", "interpret", "curate", "report"]
    assert [c for c in ran if c in stages] == stages, ran
    # the seeds are held out of the pool the SAE, the interpretation and the curation see
    import pyarrow.parquet as pq

    seeds = set(pq.read_table("seeds.parquet", columns=["id"])["id"].to_pylist())
    pool = set(pq.read_table("pool.parquet", columns=["id"])["id"].to_pylist())
    assert len(seeds) == 10 and not seeds & pool and len(seeds | pool) == 180
    report_argv = next(a for a in cmds if a[:2] == ["saescope", "report"])
    html = Path(report_argv[report_argv.index("--out") + 1]).read_text(encoding="utf-8")
    for section in ("summary", "training", "latents", "top-latents", "curation"):
        assert f'id="{section}"' in html, section
    assert "All artifacts present." in html and "absent" not in html
    assert 'id="latents-table"' in html and 'id="curation-metrics"' in html
    assert 'id="fig-decoder_map"' in html and "data rows" in html
    # The dashboard line names the same outputs: they make a complete run for it too.
    dash = next(a for a in cmds if a[:2] == ["saescope", "dashboard"])
    opts = {k.lstrip("-"): Path(dash[i + 1]) for i, k in enumerate(dash)
            if k in ("--data", "--sae", "--interpret", "--curate")}
    lay = check_run_dir(None, opts)
    assert lay.missing() == []
    # The Python block, on the same files (a budget below the pool, new output folders).
    code = python_block().replace("budget=500", "budget=60")
    for name in ('"sae"', '"interp"', '"picked"'):
        code = code.replace(f"out={name}", f"out={name[:-1]}-py\"").replace(f"sae={name}", f"sae={name[:-1]}-py\"")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (the README's own example)
    assert 0 < namespace["fvu"] < 1
    assert json.loads(Path("picked-py/manifest.json").read_text())["n_selected"] == 60
