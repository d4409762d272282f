#!/usr/bin/env python3
"""Generates golden-sets/qa/cases.jsonl: a mixed-task golden set (seeded, reproducible).

python3 golden-sets/qa/generate.py > golden-sets/qa/cases.jsonl
python3 golden-sets/qa/generate.py --cases 100000 > /tmp/big.jsonl   # for memory/throughput runs
"""
import json, random, sys

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "Japan": "Tokyo", "China": "Beijing", "India": "New Delhi", "Canada": "Ottawa", "Australia": "Canberra",
    "Mexico": "Mexico City", "Egypt": "Cairo", "Kenya": "Nairobi", "Nigeria": "Abuja", "Argentina": "Buenos Aires",
    "Chile": "Santiago", "Peru": "Lima", "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki",
    "Denmark": "Copenhagen", "Poland": "Warsaw", "Austria": "Vienna", "Greece": "Athens", "Turkey": "Ankara",
    "Ireland": "Dublin", "Netherlands": "Amsterdam", "Belgium": "Brussels", "Switzerland": "Bern",
    "Hungary": "Budapest", "Czechia": "Prague", "Romania": "Bucharest", "South Korea": "Seoul",
    "Thailand": "Bangkok", "Vietnam": "Hanoi", "Indonesia": "Jakarta", "Philippines": "Manila",
    "New Zealand": "Wellington", "South Africa": "Pretoria", "Morocco": "Rabat", "Ethiopia": "Addis Ababa",
    "Iceland": "Reykjavik", "Ukraine": "Kyiv", "Pakistan": "Islamabad", "Saudi Arabia": "Riyadh",
}
WORDS = ("river stone cloud lantern orbit garden signal harbor meadow copper violet engine ribbon canyon "
         "falcon winter pepper marble candle thunder").split()
NAMES = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jonas", "Keiko", "Lucia"]
CITIES = ["Lisbon", "Osaka", "Nairobi", "Denver", "Krakow", "Lyon", "Austin", "Seville", "Bergen", "Quito"]
POS = ["great", "friendly", "delicious", "fast", "wonderful", "excellent", "perfect"]
NEG = ["terrible", "slow", "rude", "awful", "broken", "disappointing", "dirty"]
NEU = ["ordinary", "average", "standard", "typical", "plain"]
PERSON_SCHEMA = {"type": "object", "required": ["name", "age", "city"],
                 "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
                                "city": {"type": "string"}}, "additionalProperties": False}


def cases(n, rng):
    kinds = ["capital", "arith", "upper", "reverse", "count", "json", "sentiment", "summary", "repeat"]
    weights = [50, 50, 25, 20, 15, 30, 30, 20, 10]
    countries = list(CAPITALS)
    for i in range(n):
        kind = rng.choices(kinds, weights)[0] if n != 250 else kinds_for_250[i]
        cid = f"{kind}-{i:06d}"
        if kind == "capital":
            c = countries[i % len(countries)] if n == 250 else rng.choice(countries)
            yield {"id": cid, "vars": {"question": f"What is the capital of {c}?"},
                   "assert": [{"type": "icontains", "value": CAPITALS[c], "metric": "accuracy"},
                              {"type": "regex", "value": r"^The capital of [A-Z]", "weight": 0.5, "metric": "format"}],
                   "tags": ["capitals", "knowledge"], "metadata": {"country": c}}
        elif kind == "arith":
            a, b = rng.randint(2, 999), rng.randint(2, 999)
            op = rng.choice(["+", "-", "*"])
            ans = a + b if op == "+" else a - b if op == "-" else a * b
            yield {"id": cid, "vars": {"question": f"What is {a} {op} {b}?"}, "expected": str(ans),
                   "assert": [{"type": "equals", "metric": "accuracy"},
                              {"type": "regex", "value": r"^-?\d+$", "weight": 0.5, "metric": "format"}],
                   "tags": ["math"]}
        elif kind == "upper":
            text = " ".join(rng.sample(WORDS, 3))
            yield {"id": cid, "vars": {"question": f"Convert to uppercase: {text}"},
                   "assert": [{"type": "equals", "value": text.upper(), "metric": "accuracy"},
                              {"type": "starts-with", "value": text.split()[0].upper()}],
                   "tags": ["text"]}
        elif kind == "reverse":
            words = rng.sample(WORDS, rng.randint(3, 6))
            yield {"id": cid, "vars": {"question": "Reverse the words: " + " ".join(words)},
                   "assert": [{"type": "equals", "value": " ".join(reversed(words)), "metric": "accuracy"},
                              {"type": "levenshtein", "value": " ".join(reversed(words)), "threshold": 3, "weight": 0}],
                   "tags": ["text"]}
        elif kind == "count":
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
            yield {"id": cid, "vars": {"question": "Count the words: " + " ".join(words)},
                   "assert": [{"type": "equals", "value": str(len(words)), "metric": "accuracy"}],
                   "tags": ["text"]}
        elif kind == "json":
            name, age, city = rng.choice(NAMES), rng.randint(18, 90), rng.choice(CITIES)
            yield {"id": cid, "vars": {"question": f"Extract the person as JSON: {name} is {age} years old and lives in {city}."},
                   "assert": [{"type": "is-json", "value": PERSON_SCHEMA, "metric": "format"},
                              {"type": "equals", "value": {"name": name, "age": age, "city": city}, "metric": "accuracy"},
                              {"type": "contains-json"}],
                   "tags": ["json", "extraction"]}
        elif kind == "sentiment":
            label = rng.choice(["positive", "negative", "neutral"])
            if label == "positive":
                text = f"The service was {rng.choice(POS)} and the food was {rng.choice(POS)}."
            elif label == "negative":
                text = f"The room was {rng.choice(NEG)} and the staff were {rng.choice(NEG)}."
            else:
                text = f"It was an {rng.choice(NEU)} visit on a {rng.choice(NEU)} day."
            others = [l for l in ["positive", "negative", "neutral"] if l != label]
            yield {"id": cid, "vars": {"question": f"Classify the sentiment: {text}"},
                   "assert": [{"type": "icontains", "value": label, "metric": "accuracy"},
                              {"type": "not-contains-any", "value": others}],
                   "tags": ["classification"]}
        elif kind == "summary":
            first = f"The {rng.choice(WORDS)} project shipped its {rng.choice(WORDS)} release on time"
            rest = f" Later the team discussed the {rng.choice(WORDS)} roadmap and the {rng.choice(WORDS)} budget."
            yield {"id": cid, "vars": {"question": f"Summarize: {first}.{rest}"},
                   "assert": [{"type": "rouge-n", "value": first + ".", "threshold": 0.6, "metric": "accuracy"},
                              {"type": "bleu", "value": first + ".", "threshold": 0.3, "weight": 0.5},
                              {"type": "similar", "value": [first + ".", f"The {first.split()[1]} project shipped on time."], "threshold": 0.8}],
                   "tags": ["summarization"]}
        else:
            text = " ".join(rng.sample(WORDS, 5))
            yield {"id": cid, "vars": {"question": f"Repeat exactly: {text}"},
                   "assert": [{"type": "equals", "value": text, "metric": "accuracy"},
                              {"type": "levenshtein", "value": text, "threshold": 2}],
                   "tags": ["text"]}


if __name__ == "__main__":
    n = 250
    if "--cases" in sys.argv:
        n = int(sys.argv[sys.argv.index("--cases") + 1])
    rng = random.Random(20261123)
    kinds_for_250 = [k for k, w in zip(["capital", "arith", "upper", "reverse", "count", "json", "sentiment", "summary", "repeat"],
                                       [50, 50, 25, 20, 15, 30, 30, 20, 10]) for _ in range(w)]
    rng.shuffle(kinds_for_250)
    for c in cases(n, rng):
        # Every case also checks the answer finished normally and quickly.
        c["assert"].append({"type": "finish-reason", "value": "stop"})
        c["assert"].append({"type": "latency", "threshold": 5000, "weight": 0, "metric": "latency_ok"})
        print(json.dumps(c, separators=(",", ":")))
