#!/usr/bin/env python3
"""Builds traffic.jsonl, an example copy of logged production traffic for shadow-compare, from the
QA golden set: each line is {id, request: <OpenAI chat request body>, response?: <chat completion>,
tags}. Lines whose right answer is known from the case carry the production answer (a correct one,
as a good production model gives); the rest carry only the request, so agreement is judged
against the baseline's own output. Deterministic: same input, same file."""
import json
import pathlib

here = pathlib.Path(__file__).parent
system = "You are a precise assistant. Answer with only what is asked, no preamble."
out = []
for line in open(here.parent / "qa" / "cases.jsonl"):
    case = json.loads(line)
    question = case["vars"]["question"]
    request = {
        "model": "prod-model",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
        "temperature": 0,
        "max_tokens": 128,
    }
    first = case["assert"][0]
    answer = None
    if first["type"] == "equals":
        answer = case.get("expected", first.get("value"))
    elif case["id"].startswith("capital"):
        answer = f"The capital of {case['metadata']['country']} is {first['value']}."
    row = {"id": "traffic-" + case["id"], "request": request, "tags": case.get("tags", [])}
    if answer is not None:
        row["response"] = {"choices": [{"index": 0, "message": {"role": "assistant", "content": str(answer)}, "finish_reason": "stop"}]}
    out.append(json.dumps(row, separators=(",", ":"), sort_keys=True))
(here / "traffic.jsonl").write_text("\n".join(out) + "\n")
print(f"wrote {len(out)} lines to {here / 'traffic.jsonl'}")
