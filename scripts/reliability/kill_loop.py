"""kill -9 at random (seeded) moments, of the CLI during an eval and of the server during a job,
until the work completes; then nothing may be lost or duplicated and the store must be intact."""
import json
import os
import random
import subprocess
import time

from common import Scratch, Server, Simulator, http, store_check

# Enough cases that the run outlasts the kills (each round makes ~0.15 s of progress at 20/s).
CASES = 300
# 20 requests/s at the endpoint: a run lasts ~15 s, long enough to be killed many times.
SIM = "latency: {distribution: fixed, ms: 5}\n"
LIMIT = ", requests_per_minute: 1200, burst_seconds: 0.1"


def lost_or_duplicated(rows, store_path, sim, cases, targets=1, repeats=1, judge_calls=0):
    """(True when every case is in the report once per target with all its samples and the store
    is intact, the figures as text)."""
    integrity, dups = store_check(store_path)
    chat = sim.stats()["chat"]
    keys = [(r.get("target"), r["id"]) for r in rows]
    samples = sum(len(r.get("samples", [r])) for r in rows)
    want = cases * targets
    ok = (len(keys) == want and len(set(keys)) == want and samples == want * repeats and integrity == "ok" and dups == 0)
    shape = f"{targets} targets x " if targets > 1 else ""
    shape += f"{repeats} samples x " if repeats > 1 else ""
    return ok, (f"report {len(set(keys))}/{want} distinct rows ({shape}{cases} cases), {len(keys) - len(set(keys))} duplicated, "
                f"{samples}/{want * repeats} samples; store integrity_check {integrity}, duplicate case rows {dups}; "
                f"the endpoint answered {chat} requests for {want * repeats} samples" + (f" and {judge_calls} more calls (judge or later turns)" if judge_calls else "")
                + f" ({chat - want * repeats - judge_calls} lost in flight at kills and sent again)")


def cli_loop(binary, kills, rng, cases, variant="plain"):
    """variant: plain (one prompt, one endpoint), matrix (2 prompts x 2 endpoints), repeat (--repeat 3)
    or select-best (2 endpoints, every case judged across them by the same simulator as judge)."""
    s = Scratch(cases)
    sim = Simulator(binary, s, SIM)
    endpoints = s.endpoints(sim.port, LIMIT)
    cmd = [binary, "eval", "--golden", s.path("data/g.jsonl"), "--prompt", s.path("data/prompt.yaml"), "--config", endpoints,
           "--endpoint", "sim", "--cache-path", s.path("store.sqlite"), "--report", s.path("report.json"), "--quiet"]
    targets, repeats = 1, 1
    calls_per_case = 1
    if variant == "conversation":
        # Three turns per case, each a request over the conversation so far: a kill between
        # turns must cost only the turns not yet answered.
        with open(s.path("data/g.jsonl")) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        for c in lines:
            q = c["vars"]["question"]
            c["turns"] = [q, "Multiply that by 2.", "Add 16 to that."]
            c["assert"] = [{"type": "equals", "value": c["expected"], "turn": 1}]
        s.write("data/g.jsonl", "".join(json.dumps(c) + "\n" for c in lines))
        s.write("data/prompt.yaml", "messages:\n  - {role: system, content: Answer with the number only.}\nparams: {temperature: 0, max_tokens: 32}\n")
        calls_per_case = 3
    if variant == "select-best":
        with open(endpoints) as f:
            text = f.read()
        s.write("endpoints.yaml", text + text.split("\n", 1)[1].replace("name: sim,", "name: sim-b,").replace("model: sim-small", "model: sim-b"))
        with open(s.path("data/g.jsonl")) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        for c in lines:
            c["assert"] = c.get("assert", []) + [{"type": "select-best", "value": "gives the right answer", "weight": 0}]
        s.write("data/g.jsonl", "".join(json.dumps(c) + "\n" for c in lines))
        cmd += ["--endpoint", "sim-b", "--judge-endpoint", "sim"]
        targets = 2
    if variant == "matrix":
        with open(endpoints) as f:
            text = f.read()
        s.write("endpoints.yaml", text + text.split("\n", 1)[1].replace("name: sim,", "name: sim-b,").replace("model: sim-small", "model: sim-b"))
        with open(s.path("data/prompt.yaml")) as f:
            s.write("data/prompt-b.yaml", f.read().replace("max_tokens: 32", "max_tokens: 33"))
        cmd += ["--endpoint", "sim-b", "--prompt", s.path("data/prompt-b.yaml")]
        targets = 4
    elif variant == "repeat":
        cmd += ["--repeat", "3"]
        repeats = 3
    done, killed, rounds = None, 0, 0
    try:
        while done is None:
            rounds += 1
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(s.path("cli.err"), "a"))
            if killed < kills:
                time.sleep(rng.uniform(0.05, 0.6))  # early ones land in start-up, validation and resume too
                if p.poll() is None:
                    p.kill()
                    p.wait()
                    killed += 1
                    continue
            rc = p.wait(timeout=300)
            done = rc
        report = json.load(open(s.path("report.json")))
        intact, figures = lost_or_duplicated(report["cases"], s.path("store.sqlite"), sim, cases, targets, repeats,
                                             judge_calls=cases if variant == "select-best" else cases * (calls_per_case - 1))
        ok = done in (0, 1) and report["summary"]["total"] == cases * targets * repeats and intact
        if variant == "conversation":
            complete = sum(1 for r in report["cases"] if len(r.get("turns", [])) == 3)
            ok = ok and complete == cases
            figures += f"; {complete}/{cases} conversations with all 3 turns"
        if variant == "select-best":
            # Rows replayed from a killed attempt and rows run again must agree: one winner per case.
            winners = {}
            for r in report["cases"]:
                sb = [a for a in r.get("assertions", []) if a["type"] == "select-best"]
                if len(sb) == 1 and "error" not in sb[0]:
                    winners[r["id"]] = winners.get(r["id"], 0) + (1 if sb[0]["score"] == 1 else 0)  # weight 0: the score says who won
            decided = sum(1 for v in winners.values() if v == 1)
            ok = ok and len(winners) == cases and decided == cases
            figures += f"; select-best decided with one winner for {decided}/{cases} cases"
        print(f"kill-loop cli ({variant}): {killed} kills in {rounds} runs; final exit {done}; {figures} -> {'ok' if ok else 'FAILED'}")
        return ok, killed
    finally:
        sim.stop()


def server_loop(binary, kills, rng, cases, repeats=1):
    s = Scratch(cases)
    sim = Simulator(binary, s, SIM)
    s.endpoints(sim.port, LIMIT)
    config = s.write("service.yaml", "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\n"
                     "reports_dir: state/reports\ndrain_grace_seconds: 1\n")
    body = {"golden_set": {"ref": "g.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "sim", "thresholds": {"min_pass_rate": 0.5}}
    if repeats > 1:
        body["options"] = {"repeat": repeats}
    key = {"Idempotency-Key": f"wf-kill-loop-eval-r{repeats}"}
    killed, job, final = 0, None, None
    try:
        while final is None:
            server = Server(binary, config, s.dir, s.path("server.err"))
            try:
                if killed < kills:
                    # Kill at a random moment: sometimes before the (re-)submission arrives, usually during the run.
                    if rng.random() < 0.8:
                        status, _, env = http("POST", server.base + "/v1/eval", body, key)
                        assert status in (200, 202), (status, env)
                        assert job is None or env["job_id"] == job, "a re-submission after a restart made a new job"
                        job = env["job_id"]
                    time.sleep(rng.uniform(0.05, 0.6))
                    server.kill9()
                    killed += 1
                    continue
                status, _, env = http("POST", server.base + "/v1/eval?wait=120", body, key, timeout=180)
                final = env
                status, _, report = http("GET", server.base + f"/v1/jobs/{env['job_id']}/report")
            finally:
                server.stop()
        intact, figures = lost_or_duplicated(report["cases"], s.path("state/service.sqlite"), sim, cases, 1, repeats)
        ok = final["state"] == "completed" and final["terminal"] and final["job_id"] == (job or final["job_id"]) and intact
        print(f"kill-loop server{' (repeat %d)' % repeats if repeats > 1 else ''}: {killed} kills; job {final['job_id']} {final['state']} verdict {final.get('verdict')} "
              f"(attempt {final.get('attempt')}, reused {final.get('reused')}); {figures} -> {'ok' if ok else 'FAILED'}")
        return ok, killed
    finally:
        sim.stop()


def run(binary, kills, seed):
    rng = random.Random(seed)
    cases = max(CASES, 6 * kills)
    ok1, k1 = cli_loop(binary, kills // 2, rng, cases)
    ok2, k2 = server_loop(binary, kills - kills // 2, rng, cases)
    # Matrices and repeats on the same core: fewer kills, a smaller set (each case is 4 or 3 calls).
    extra = max(4, kills // 5)
    ok3, k3 = cli_loop(binary, extra, rng, cases // 2, "matrix")
    ok4, k4 = cli_loop(binary, extra, rng, cases // 2, "repeat")
    ok5, k5 = server_loop(binary, extra, rng, cases // 2, repeats=3)
    ok6, k6 = cli_loop(binary, extra, rng, cases // 2, "select-best")
    ok7, k7 = cli_loop(binary, extra, rng, cases // 2, "conversation")
    print(f"kill-loop: {k1 + k2 + k3 + k4 + k5 + k6 + k7} kills in all (seed {seed})")
    return ok1 and ok2 and ok3 and ok4 and ok5 and ok6 and ok7
