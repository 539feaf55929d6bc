"""Cost of reading an LLM answer: `prompts.find_json_objects` against the decoder loop it replaced.

The replaced loop (saescope up to commit 9984552) tried `json.JSONDecoder.raw_decode` at every
`{` and moved one `{` on after a failure, so an answer of N unclosed `{"a":1,` blocks decoded
O(N^2) characters, and a valid answer nested deeper than Python's recursion limit raised
`RecursionError`. The current one scans once with a bounded stack and decodes only balanced,
shallow candidates. Both run here on the same hostile answers, one thread; the script prints
seconds and the ratio.

    python benchmarks/llm_answer_parse.py [--sizes 10000,50000,200000]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def replaced_find_json_objects(text: str, key: str) -> list[dict[str, Any]]:
    """The loop of saescope 9984552 (`prompts.find_json_objects`), kept as the baseline."""
    decoder = json.JSONDecoder()
    found = []
    pos = text.find("{")
    while pos != -1:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            obj, end = None, pos + 1
        if isinstance(obj, dict) and key in obj:
            found.append(obj)
            pos = text.find("{", end)
        else:
            pos = text.find("{", pos + 1)
    return found


def _time(fn: Any, text: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    try:
        fn(text, "explanation")
        outcome = "ok"
    except RecursionError:
        outcome = "RecursionError"
    return time.perf_counter() - t0, outcome


def main() -> None:
    from saescope.interpret.prompts import find_json_objects

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,8000,32000",
                    help="numbers of unclosed blocks (7 bytes each)")
    args = ap.parse_args()
    print(f"{'answer':<34} {'bytes':>9} {'replaced s':>11} {'current s':>10} {'ratio':>8}")
    cases = [(f'{n:,} x {{"a":1,', '{"a":1,' * n) for n in map(int, args.sizes.split(","))]
    cases.append(("200,000-deep array in an object", '{"explanation": ' + "[" * 200_000
                  + "]" * 200_000 + "}"))
    for name, text in cases:
        old, old_out = _time(replaced_find_json_objects, text)
        new, new_out = _time(find_json_objects, text)
        ratio = f"{old / new:.0f}x" if old_out == "ok" else old_out
        print(f"{name:<34} {len(text):>9,} {old:>11.3f} {new:>10.3f} {ratio:>8}  ({new_out})")


if __name__ == "__main__":
    main()
