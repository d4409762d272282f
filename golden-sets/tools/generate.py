#!/usr/bin/env python3
"""Generates golden-sets/tools/cases.jsonl: tool-calling cases for the prompt's `calculator` and
`record_person` tools (seeded).

python3 golden-sets/tools/generate.py > golden-sets/tools/cases.jsonl

Arithmetic questions expect a `calculator` call with the operands and operator; person sentences
expect a `record_person` call with name, age and city. Every case checks the call against the
declared schemas (is-valid-openai-tools-call), the expected call (tool-call) and the tool named
(tool-call-f1). The simulated model calls both tools for real, with its usual accuracy.
"""
import json, random, sys

NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Leslie", "Radia"]
CITIES = ["Paris", "Lima", "Oslo", "Cairo", "Dublin", "Vienna", "Tokyo", "Nairobi"]
OPS = [("+", "plus"), ("-", "minus"), ("*", "times")]


def cases(n, rng):
    for i in range(n):
        if i % 3 == 2:
            name, age, city = rng.choice(NAMES), rng.randint(18, 90), rng.choice(CITIES)
            yield {"id": f"person-{i:04d}", "vars": {"question": f"Extract the person: {name} is {age} years old and lives in {city}."},
                   "assert": [{"type": "is-valid-openai-tools-call"},
                              {"type": "tool-call", "value": {"name": "record_person", "arguments": {"name": name, "age": age, "city": city}}},
                              {"type": "tool-call-f1", "value": ["record_person"], "metric": "tool_f1"}],
                   "tags": ["person"]}
        else:
            a, b = rng.randint(10, 999), rng.randint(2, 99)
            op, word = rng.choice(OPS)
            yield {"id": f"calc-{i:04d}", "vars": {"question": f"What is {a} {op} {b}?"},
                   "assert": [{"type": "is-valid-openai-tools-call"},
                              {"type": "tool-call", "value": {"name": "calculator", "arguments": {"a": a, "b": b, "op": op}}},
                              {"type": "tool-call-f1", "value": ["calculator"], "metric": "tool_f1"}],
                   "tags": ["calculator"]}


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--cases") + 1]) if "--cases" in sys.argv else 150
    for c in cases(n, random.Random(23)):
        print(json.dumps(c))
