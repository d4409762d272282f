#!/usr/bin/env python3
"""Generates golden-sets/judged/cases.jsonl: free-text cases graded by a judge model (seeded).

python3 golden-sets/judged/generate.py > golden-sets/judged/cases.jsonl
python3 golden-sets/judged/generate.py --labels --cases 400 > golden-sets/judged/labels.jsonl

Summaries, explanations of a fact (capitals), support-style answers (sentiment of a customer
message) and faithful repetition, each with model-graded assertions: llm-rubric, g-eval,
factuality against the reference, model-graded-closedqa, and for the cases that carry retrieved
context (vars.context) the judged context-faithfulness / -recall / -relevance beside the id-based
context-precision-ids / -recall-ids; the simulated endpoint grades them for real.
"""
import json, random, sys

WORDS = ("river stone cloud lantern orbit garden signal harbor meadow copper violet engine ribbon canyon "
         "falcon winter pepper marble candle thunder").split()
CAPITALS = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
            "Canada": "Ottawa", "Kenya": "Nairobi", "Peru": "Lima", "Norway": "Oslo", "Greece": "Athens",
            "Ireland": "Dublin", "Austria": "Vienna", "Egypt": "Cairo", "Chile": "Santiago", "Poland": "Warsaw"}
POS = ["great", "friendly", "delicious", "fast", "wonderful"]
NEG = ["terrible", "slow", "rude", "awful", "broken"]


def cases(n, rng):
    kinds = ["summary", "capital", "support", "repeat"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        cid = f"{kind}-{i:04d}"
        if kind == "summary":
            first = f"The {rng.choice(WORDS)} project shipped its {rng.choice(WORDS)} release on time"
            rest = f" Later the team discussed the {rng.choice(WORDS)} roadmap and the {rng.choice(WORDS)} budget."
            # A retrieval step before the summary: which chunk ids it fetched and which were relevant.
            relevant = [f"doc-{i}-a", f"doc-{i}-b"]
            retrieved = [f"doc-{i}-a"] + ([f"doc-{i}-b"] if rng.random() < 0.7 else []) + ([f"doc-{i}-x"] if rng.random() < 0.4 else [])
            yield {"id": cid, "vars": {"question": f"Summarize: {first}.{rest}", "context": [first + ".", rest.strip()]}, "expected": first + ".",
                   "assert": [{"type": "llm-rubric", "value": "A one-sentence summary that keeps the main fact and adds nothing", "metric": "rubric"},
                              {"type": "g-eval", "value": "The summary keeps the main fact of the text and adds nothing", "metric": "g_eval"},
                              {"type": "factuality", "metric": "factuality"},
                              {"type": "context-faithfulness", "metric": "faithfulness", "weight": 0},
                              {"type": "context-precision-ids", "metric": "context_precision", "weight": 0},
                              {"type": "context-recall-ids", "metric": "context_recall", "weight": 0}],
                   "metadata": {"retrieved_ids": retrieved, "relevant_ids": relevant},
                   "tags": ["summarization"]}
        elif kind == "capital":
            c = rng.choice(list(CAPITALS))
            other = rng.choice([k for k in CAPITALS if k != c])
            context = [f"The capital of {c} is {CAPITALS[c]}.", f"{CAPITALS[other]} is a large city in {other}."]
            yield {"id": cid, "vars": {"question": f"What is the capital of {c}?", "context": context}, "expected": f"The capital of {c} is {CAPITALS[c]}.",
                   "assert": [{"type": "model-graded-closedqa", "value": f"names {CAPITALS[c]} as the capital of {c}", "metric": "closedqa"},
                              {"type": "factuality", "metric": "factuality"},
                              {"type": "context-faithfulness", "metric": "faithfulness", "threshold": 0.5},
                              {"type": "context-recall", "metric": "context_recall_judged", "weight": 0},
                              {"type": "context-relevance", "metric": "context_relevance", "weight": 0}],
                   "tags": ["explanation"]}
        elif kind == "support":
            words = rng.sample(POS if i % 8 < 4 else NEG, 2)
            yield {"id": cid, "vars": {"question": f"Classify the sentiment: The service was {words[0]} and the food {words[1]}."},
                   "assert": [{"type": "llm-rubric", "value": "Names the customer's sentiment correctly in one word", "metric": "rubric"},
                              {"type": "g-eval", "value": ["Names the sentiment correctly", "Answers in one word"], "metric": "g_eval"}],
                   "tags": ["support"]}
        else:
            text = " ".join(rng.sample(WORDS, 6))
            yield {"id": cid, "vars": {"question": f"Repeat exactly: {text}"}, "expected": text,
                   "assert": [{"type": "llm-rubric", "value": "Repeats the text exactly, with nothing added", "metric": "rubric", "threshold": 0.8}],
                   "tags": ["faithfulness"]}


def labels(n, rng):
    """A labelled calibration set (`evalengine judge-calibrate`): sums and capitals, half the
    outputs right; the human verdict is whether the output is right."""
    for i in range(n):
        right = rng.random() < 0.5
        if i % 2 == 0:
            a, b = rng.randint(10, 999), rng.randint(10, 999)
            out = str(a + b) if right else str(a + b + rng.choice([-2, -1, 1, 2]))
            yield {"id": f"sum-{i:04d}", "type": "llm-rubric", "rubric": "Gives the correct sum as a number", "rubric_id": "sum",
                   "input": f"What is {a} + {b}?", "output": out, "human": right}
        else:
            c = rng.choice(list(CAPITALS))
            city = CAPITALS[c] if right else rng.choice([v for v in CAPITALS.values() if v != CAPITALS[c]])
            yield {"id": f"capital-{i:04d}", "type": "model-graded-closedqa", "rubric": f"names the capital of {c} correctly", "rubric_id": "capital",
                   "input": f"What is the capital of {c}?", "output": f"The capital of {c} is {city}.", "human": right}


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--cases") + 1]) if "--cases" in sys.argv else 200
    rng = random.Random(17)
    if "--labels" in sys.argv:
        for item in labels(n, rng):
            print(json.dumps(item))
    else:
        for c in cases(n, rng):
            print(json.dumps(c))
