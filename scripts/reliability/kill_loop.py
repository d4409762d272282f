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


def lost_or_duplicated(ids, store_path, sim, cases):
    """(True when every case is in the report once and the store is intact, the figures as text)."""
    integrity, dups = store_check(store_path)
    chat = sim.stats()["chat"]
    ok = len(ids) == cases and len(set(ids)) == cases and integrity == "ok" and dups == 0
    return ok, (f"report {len(set(ids))}/{cases} distinct cases, {len(ids) - len(set(ids))} duplicated; store integrity_check {integrity}, "
                f"duplicate case rows {dups}; the endpoint answered {chat} requests for {cases} cases "
                f"({chat - cases} lost in flight at kills and sent again)")


def cli_loop(binary, kills, rng, cases):
    s = Scratch(cases)
    sim = Simulator(binary, s, SIM)
    endpoints = s.endpoints(sim.port, LIMIT)
    cmd = [binary, "eval", "--golden", s.path("data/g.jsonl"), "--prompt", s.path("data/prompt.yaml"), "--config", endpoints,
           "--endpoint", "sim", "--cache-path", s.path("store.sqlite"), "--report", s.path("report.json"), "--quiet"]
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
        intact, figures = lost_or_duplicated([c["id"] for c in report["cases"]], s.path("store.sqlite"), sim, cases)
        ok = done in (0, 1) and report["summary"]["total"] == cases and intact
        print(f"kill-loop cli: {killed} kills in {rounds} runs; final exit {done}; {figures} -> {'ok' if ok else 'FAILED'}")
        return ok, killed
    finally:
        sim.stop()


def server_loop(binary, kills, rng, cases):
    s = Scratch(cases)
    sim = Simulator(binary, s, SIM)
    s.endpoints(sim.port, LIMIT)
    config = s.write("service.yaml", "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\n"
                     "reports_dir: state/reports\ndrain_grace_seconds: 1\n")
    body = {"golden_set": {"ref": "g.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "sim", "thresholds": {"min_pass_rate": 0.5}}
    key = {"Idempotency-Key": "wf-kill-loop-eval"}
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
        intact, figures = lost_or_duplicated([c["id"] for c in report["cases"]], s.path("state/service.sqlite"), sim, cases)
        ok = final["state"] == "completed" and final["terminal"] and final["job_id"] == (job or final["job_id"]) and intact
        print(f"kill-loop server: {killed} kills; job {final['job_id']} {final['state']} verdict {final.get('verdict')} "
              f"(attempt {final.get('attempt')}, reused {final.get('reused')}); {figures} -> {'ok' if ok else 'FAILED'}")
        return ok, killed
    finally:
        sim.stop()


def run(binary, kills, seed):
    rng = random.Random(seed)
    cases = max(CASES, 6 * kills)
    ok1, k1 = cli_loop(binary, kills // 2, rng, cases)
    ok2, k2 = server_loop(binary, kills - kills // 2, rng, cases)
    print(f"kill-loop: {k1 + k2} kills in all (seed {seed})")
    return ok1 and ok2
