"""Shared helpers of the reliability suite (scripts/check-reliability.py): processes on loopback,
HTTP without dependencies, scratch directories with a golden set, a prompt and endpoints."""
import json
import os
import signal
import socket
import subprocess
import sqlite3
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=60):
    """(status, headers, parsed JSON or raw bytes); HTTP errors are answers, not exceptions."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, dict(e.headers), e.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw


def arithmetic_cases(n):
    lines = []
    for i in range(n):
        a, b = 100 + i % 900, 7 + i // 900
        lines.append(json.dumps({"id": f"c{i:05d}", "vars": {"question": f"What is {a} * {b}?"}, "expected": str(a * b),
                                 "assert": [{"type": "equals", "metric": "accuracy"}]}))
    return "\n".join(lines) + "\n"


PROMPT = 'messages:\n  - role: user\n    content: "{{question}}"\nparams:\n  temperature: 0\n  max_tokens: 32\n'


class Scratch:
    """A directory with data/g.jsonl, data/prompt.yaml and an endpoints file for a simulator port."""

    def __init__(self, cases=300, prefix="evalengine-rel-"):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.makedirs(self.path("data"), exist_ok=True)
        self.write("data/g.jsonl", arithmetic_cases(cases))
        self.write("data/prompt.yaml", PROMPT)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def endpoints(self, port, extra=""):
        return self.write("endpoints.yaml", "endpoints:\n"
                          f"  - {{name: sim, base_url: \"http://127.0.0.1:{port}\", model: sim-small, max_in_flight: 8, "
                          f"retry: {{max_attempts: 3, initial_backoff_seconds: 0.01}}{extra}}}\n")


class Simulator:
    def __init__(self, binary, scratch, profile_yaml, name="sim"):
        self.port = free_port()
        profile = scratch.write(f"{name}.yaml", profile_yaml)
        self.log = open(scratch.path(f"{name}.log"), "w")
        self.proc = subprocess.Popen([binary, "simulate", "--port", str(self.port), "--profile", profile],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                if http("GET", self.base + "/sim/stats", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the simulator did not start")

    def stats(self):
        return http("GET", self.base + "/sim/stats")[2]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Server:
    """`evalengine serve` in its own process; `kill9()` is the pod being killed."""

    def __init__(self, binary, config, cwd, log):
        self.proc = subprocess.Popen([binary, "serve", "--config", config, "--port", "0", "--log-level", "error"], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=open(log, "a"), text=True)
        line = self.proc.stdout.readline()
        if "serving on" not in line:
            self.proc.kill()
            raise RuntimeError(f"the server did not start: {line!r}; see {log}")
        self.base = line.strip().split("serving on ")[1]

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


def store_check(path):
    """integrity_check of a store and the (run, case) pairs stored more than once."""
    db = sqlite3.connect(path)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        dups = db.execute("SELECT count(*) FROM (SELECT run_id, case_id FROM case_results GROUP BY run_id, case_id HAVING count(*) > 1)").fetchone()[0]
        return integrity, dups
    finally:
        db.close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))
