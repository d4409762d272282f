#!/usr/bin/env python3
"""The inspect_ai peer of scripts/bench-anchors.sh: the same `equals` cases as
scripts/python-asyncio-runner.py (same system prompt, temperature 0, max_tokens 128, seed 7), run as
an inspect_ai Task (generate() solver, exact() scorer) through its `openai-api` provider pointed at
the simulator, with MAX_CONNECTIONS requests in flight and no cache. Prints one line:

  inspect_ai: N cases in S s = R cases/s; accuracy A

  python inspect-ai-runner.py --golden cases.jsonl --port 18091 --concurrency 128
"""
import argparse, json, os, sys, tempfile, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--model", default="sim-small")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    # The openai-api provider reads <SERVICE>_BASE_URL and <SERVICE>_API_KEY for openai-api/<service>/<model>.
    os.environ["SIM_BASE_URL"] = f"http://127.0.0.1:{a.port}/v1"
    os.environ["SIM_API_KEY"] = "sk-bench-not-a-secret"
    from inspect_ai import Task, eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig
    from inspect_ai.scorer import exact
    from inspect_ai.solver import generate

    system = "You are a precise assistant. Answer with only what is asked, no preamble."
    samples = []
    with open(a.golden) as f:
        for line in f:
            c = json.loads(line)
            samples.append(Sample(id=c["id"], target=c["expected"],
                                  input=[ChatMessageSystem(content=system), ChatMessageUser(content=c["vars"]["question"])]))
            if a.limit and len(samples) >= a.limit:
                break
    task = Task(dataset=samples, solver=generate(), scorer=exact(),
                config=GenerateConfig(temperature=0, max_tokens=128, seed=7, max_connections=a.concurrency, max_retries=1, timeout=60))
    with tempfile.TemporaryDirectory() as logs:
        t0 = time.perf_counter()
        [log] = inspect_eval(task, model=f"openai-api/sim/{a.model}", log_dir=logs, display="none", max_connections=a.concurrency, max_samples=a.concurrency,
                             log_samples=False, score_display=False)
        t1 = time.perf_counter()
    accuracy = None
    if log.results and log.results.scores:
        metrics = log.results.scores[0].metrics
        m = metrics.get("accuracy") or next(iter(metrics.values()), None)
        accuracy = f"{m.name} {m.value:.4f}" if m else None
    n = len(samples)
    print(f"inspect_ai: {n} cases in {t1 - t0:.2f} s = {n / (t1 - t0):,.0f} cases/s; accuracy {accuracy}; status {log.status}")
    sys.exit(0 if log.status == "success" else 1)


if __name__ == "__main__":
    main()
