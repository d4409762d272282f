"""Disk full: the store lives on a 1 MiB tmpfs (or, where mounting is not allowed, under a
RLIMIT_FSIZE with SIGXFSZ ignored, so writes fail with EFBIG as they would with ENOSPC). The CLI
must stop with an error that says what happened, the store must pass integrity_check, and a re-run
with room must resume and finish. The server must turn the job into an error and keep serving."""
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile

from common import Scratch, Server, Simulator, http, store_check

CASES = 3000


def small_disk():
    """(directory with ~1 MiB of room, cleanup, how) — a tmpfs when we may mount one."""
    d = tempfile.mkdtemp(prefix="evalengine-full-")
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d], capture_output=True).returncode == 0:
        return d, lambda: subprocess.run(["umount", d]), None, "a 1 MiB tmpfs"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    return d, lambda: None, limit, "RLIMIT_FSIZE 1 MiB"


def run(binary):
    s = Scratch(CASES)
    sim = Simulator(binary, s, "latency: {distribution: none}\n")
    endpoints = s.endpoints(sim.port)
    disk, cleanup, preexec, how = small_disk()
    ok = True
    try:
        store = os.path.join(disk, "store.sqlite")
        cmd = [binary, "eval", "--golden", s.path("data/g.jsonl"), "--prompt", s.path("data/prompt.yaml"), "--config", endpoints,
               "--endpoint", "sim", "--report", s.path("report.json"), "--quiet"]
        r = subprocess.run(cmd + ["--cache-path", store], capture_output=True, text=True, preexec_fn=preexec, timeout=300)
        message = (r.stderr.strip().splitlines() or [""])[-1]
        clear = r.returncode not in (0, 1, 2) and ("full" in message.lower() or "space" in message.lower() or "too large" in message.lower())
        integrity, dups = store_check(store)
        print(f"disk-full cli ({how}): exit {r.returncode}, message: {message[:160]!r}; store integrity_check {integrity}, duplicate rows {dups}")
        ok &= clear and integrity == "ok" and dups == 0
        # With room again, the same command resumes from what was persisted and finishes.
        roomy = s.path("store.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(store + suffix):
                shutil.copy(store + suffix, roomy + suffix)
        before = sim.stats()["chat"]
        r2 = subprocess.run(cmd + ["--cache-path", roomy], capture_output=True, text=True, timeout=300)
        report = json.load(open(s.path("report.json")))
        ids = {c["id"] for c in report["cases"]}
        sent = sim.stats()["chat"] - before
        resumed = report["summary"].get("resumed_cases", 0)
        print(f"disk-full cli: re-run with room: exit {r2.returncode}, {len(ids)}/{CASES} cases, resumed {resumed}, sent {sent} requests")
        ok &= r2.returncode in (0, 1) and len(ids) == CASES and sent < CASES

        # The server: its store fills up under a job.
        config = s.write("service.yaml", f"endpoints: endpoints.yaml\ndata_dir: data\nstore: {disk}/service.sqlite\nreports_dir: state/reports\n")
        if os.path.exists(store):
            os.remove(store)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(store + suffix):
                os.remove(store + suffix)
        log = s.path("server.err")
        server = Server(binary, config, s.dir, log) if preexec is None else None
        if server is None:
            print("disk-full server: skipped (needs a tmpfs; RLIMIT_FSIZE would also stop the server's own log)")
        else:
            try:
                st, _, env = http("POST", server.base + "/v1/eval?wait=120", {"golden_set": {"ref": "g.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "sim"}, timeout=180)
                health = http("GET", server.base + "/healthz")[0]
                err = (env.get("error") or {}) if isinstance(env, dict) else {}
                print(f"disk-full server: HTTP {st}, state {env.get('state')}, error {err.get('code')}: {str(err.get('message'))[:120]!r}; /healthz {health}")
                ok &= st == 200 and env.get("state") == "errored" and err.get("code") == "store_unavailable" and health == 200
            finally:
                server.stop()
            integrity, _ = store_check(os.path.join(disk, "service.sqlite"))
            print(f"disk-full server: store integrity_check {integrity}")
            ok &= integrity == "ok"
    finally:
        sim.stop()
        cleanup()
    return ok
