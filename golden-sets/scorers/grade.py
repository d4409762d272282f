#!/usr/bin/env python3
"""An example evalengine scorer (docs/SCORERS.md): a persistent worker that reads one JSON
request per line on stdin and writes one JSON answer per line on stdout.

Request: {"id", "output", "vars", "expected", "value", "config", "tool_calls"?}
Answer:  {"pass": bool, "score": number, "reason": str, "named_scores": {name: number}}

This one scores word overlap of the output with `expected` (or `value`), case-insensitive;
`config.min_overlap` (default 0.5) is the pass mark.
"""
import json
import sys


def words(text):
    return {w.strip(".,!?;:\"'()").lower() for w in str(text).split() if w.strip(".,!?;:\"'()")}


def grade(request):
    reference = request.get("value") or request.get("expected") or ""
    want, got = words(reference), words(request.get("output", ""))
    overlap = len(want & got) / len(want) if want else 0.0
    mark = float((request.get("config") or {}).get("min_overlap", 0.5))
    return {"pass": overlap >= mark, "score": overlap,
            "reason": f"{len(want & got)} of {len(want)} reference words in the output (pass mark {mark})",
            "named_scores": {"overlap": overlap, "output_words": len(got)}}


for line in sys.stdin:
    try:
        answer = grade(json.loads(line))
    except Exception as e:  # a broken request is answered, not crashed on
        answer = {"pass": False, "score": 0, "reason": f"scorer error: {e}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
