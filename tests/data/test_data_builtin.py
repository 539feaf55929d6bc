from __future__ import annotations

from collections import Counter

from saescope.data.builtin import MMLU_DOMAINS, SUBJECT_TO_DOMAIN, load_mmlu


def test_mmlu_counts_and_labels(mmlu) -> None:
    assert mmlu.column_names == ["id", "text", "subject", "domain"]
    assert mmlu.num_rows == 14_044
    assert len(set(mmlu["id"].to_pylist())) == 14_044
    subjects = Counter(mmlu["subject"].to_pylist())
    assert len(subjects) == 57
    # Standard MMLU grouping: 18 STEM, 13 humanities, 12 social sciences, 14 other subjects.
    assert {d: len(s) for d, s in MMLU_DOMAINS.items()} == {
        "STEM": 18, "humanities": 13, "social sciences": 12, "other": 14
    }
    assert set(subjects) == set(SUBJECT_TO_DOMAIN)
    rows = dict(zip(mmlu["subject"].to_pylist(), mmlu["domain"].to_pylist(), strict=True))
    assert rows["high school physics"] == "STEM"
    assert rows["professional law"] == "humanities"
    assert rows["econometrics"] == "social sciences"
    assert rows["virology"] == "other"
    domains = Counter(mmlu["domain"].to_pylist())
    assert sum(subjects[s] for s in MMLU_DOMAINS["STEM"]) == domains["STEM"]
    assert subjects["professional law"] == 1534  # the largest MMLU test subject
    assert all(t.strip() for t in mmlu["text"].to_pylist())


def test_mmlu_with_choices(mmlu) -> None:
    withc = load_mmlu(with_choices=True)
    assert withc["id"].equals(mmlu["id"])
    first, plain = withc["text"][0].as_py(), mmlu["text"][0].as_py()
    lines = first.split("\n")
    assert lines[0] == plain
    assert [line[:3] for line in lines[1:]] == ["A. ", "B. ", "C. ", "D. "]
