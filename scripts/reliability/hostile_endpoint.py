"""A hostile model endpoint (issue 15): a 100-case eval against a fake OpenAI-compatible server
that cycles through every bad answer an endpoint or gateway has been seen to give — huge, negative
and overflowing usage counts, infinite and absurd Retry-After and reset headers, the API key echoed
in error bodies and in answers, a redirect to another origin, a gzip bomb, a 100 MB body, FastAPI
`detail` errors, malformed JSON — interleaved with good answers so the circuit breaker stays shut
and every kind is met. The process must neither crash nor hang; every case ends within its
deadline, errored ones with a named kind; the key appears in no output file; exit 2."""
import gzip
import http.server
import json
import os
import socketserver
import subprocess
import threading
import time

from common import Scratch, free_port

SECRET = "sk-hostile-SUPERSECRET-4f1c2b9e7d"
BOMB = None  # built once: 100 MB of spaces, gzip-compressed (~100 KB)


def chat(text, usage):
    return {"id": "x", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}], "usage": usage}


GOOD = chat("4", {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6})


def bad_answers(canary_port):
    """(name, status, headers, body bytes or a callable writing the body)."""
    j = lambda o: json.dumps(o).encode()
    return [
        ("usage 1e30", 200, {}, j(chat("4", {"prompt_tokens": 1e30, "completion_tokens": 1, "total_tokens": 1e30}))),
        ("usage 9e18 + 9e18", 200, {}, j(chat("4", {"prompt_tokens": 9e18, "completion_tokens": 9e18}))),
        ("negative usage", 200, {}, j(chat("4", {"prompt_tokens": -12000000, "completion_tokens": 1, "total_tokens": -11999999}))),
        ("Retry-After inf", 429, {"Retry-After": "inf"}, j({"error": {"message": "slow down"}})),
        ("Retry-After 1e300", 429, {"Retry-After": "1e300"}, j({"error": {"message": "slow down"}})),
        ("Retry-After 999999 on 503", 503, {"Retry-After": "999999"}, j({"error": {"message": "overloaded"}})),
        ("retry-after-ms NaN", 429, {"retry-after-ms": "nan"}, j({"error": {"message": "slow down"}})),
        ("reset inf, remaining 0", 200, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "inf"}, j(GOOD)),
        ("echoed key (401)", 401, {}, j({"error": {"message": f"Incorrect API key provided: Bearer {SECRET}"}})),
        ("echoed key (FastAPI detail)", 400, {}, j({"detail": f"bad request from key {SECRET}"})),
        ("echoed key in the answer", 200, {}, j(chat(f"your key is {SECRET}", {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}))),
        ("redirect", 307, {"Location": f"http://127.0.0.1:{canary_port}/v1/chat/completions"}, b""),
        ("gzip bomb", 200, {"Content-Encoding": "gzip"}, lambda: BOMB),
        ("100 MB body", 200, {}, "100MB"),
        ("malformed JSON", 200, {}, b'{"choices": [{"message": {"content": "4"'),
        ("huge embedding-style index", 200, {}, j({"data": [{"index": 1e30, "embedding": [0.1]}]})),
    ]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answers = []
    counter = 0
    lock = threading.Lock()
    seen_keys = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with Handler.lock:
            n = Handler.counter
            Handler.counter += 1
            Handler.seen_keys.append(self.headers.get("Authorization", ""))
        if n % 2 == 0:
            name, status, headers, body = "good", 200, {}, json.dumps(GOOD).encode()
        else:
            name, status, headers, body = Handler.answers[(n // 2) % len(Handler.answers)]
        if callable(body):
            body = body()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        if body == "100MB":
            size = 100 * 1024 * 1024
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b" " * (1 << 20)
            try:
                for _ in range(100):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Canary(http.server.BaseHTTPRequestHandler):
    hits = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        Canary.hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # the client hanging up on a bomb or a 100 MB body is the point


def run(binary, cases=100):
    global BOMB
    BOMB = gzip.compress(b" " * (100 * 1024 * 1024), compresslevel=9)
    port, canary_port = free_port(), free_port()
    Handler.answers = bad_answers(canary_port)
    servers = [Server(("127.0.0.1", port), Handler), Server(("127.0.0.1", canary_port), Canary)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    ok = True
    d = Scratch(cases=1)
    if True:
        golden = "\n".join(json.dumps({"id": f"h{i:03d}", "vars": {"question": f"What is {i} + 2?"}, "expected": "4"}) for i in range(cases)) + "\n"
        d.write("g.jsonl", golden)
        d.write("prompt.yaml", 'messages:\n  - role: user\n    content: "{{question}}"\n')
        # Half the answers are bad: whether the errored cases would have passed decides the verdict.
        d.write("gate.yaml", "min_pass_rate: 0.8\n")
        d.write("endpoints.yaml", f"""endpoints:
  - name: hostile
    base_url: http://127.0.0.1:{port}/v1
    model: m
    api_key_env: HOSTILE_KEY
    max_in_flight: 8
    timeouts: {{connect_seconds: 2, request_seconds: 10}}
    retry: {{max_attempts: 3, initial_backoff_seconds: 0.01, max_retry_after_seconds: 5}}
""")
        env = dict(os.environ, HOSTILE_KEY=SECRET)
        t0 = time.time()
        try:
            p = subprocess.run([binary, "eval", "--golden", d.path("g.jsonl"), "--prompt", d.path("prompt.yaml"), "--config", d.path("endpoints.yaml"),
                                "--endpoint", "hostile", "--gate", d.path("gate.yaml"), "--concurrency", "16", "--cache-path", d.path("cache.sqlite"),
                                "--report", d.path("report.json"), "--junit", d.path("junit.xml")],
                               env=env, capture_output=True, timeout=600)
        except subprocess.TimeoutExpired:
            print("  FAILED: the run hung (no exit within 600 s)")
            return False
        wall = time.time() - t0
        print(f"  {cases} cases against the hostile endpoint in {wall:.1f} s, exit {p.returncode}, {Handler.counter} requests")
        if p.returncode != 2:
            print(f"  FAILED: exit {p.returncode}, expected 2 (inconclusive)\n{p.stderr.decode()[-2000:]}")
            ok = False
        if p.returncode < 0 or p.returncode >= 128:
            print("  FAILED: the process crashed")
            ok = False
        report = json.loads(open(d.path("report.json")).read())
        rows = report["cases"]
        kinds = {}
        for r in rows:
            if r["status"] == "errored":
                k = r.get("error", {}).get("kind", "")
                kinds[k] = kinds.get(k, 0) + 1
                if not k or k == "error":
                    print(f"  FAILED: case {r['id']} errored without a named kind")
                    ok = False
        print(f"  {len(rows)} rows; errored by kind: {json.dumps(kinds, sort_keys=True)}")
        if len(rows) != cases:
            print(f"  FAILED: {len(rows)} case rows, expected {cases}")
            ok = False
        # Each case's attempts are bounded by 3 × 10 s, plus the 5 s Retry-After cap; 16 at a time.
        bound = (cases / 8) * (3 * 10 + 5)
        if wall > bound:
            print(f"  FAILED: {wall:.0f} s, more than the deadlines allow ({bound:.0f} s)")
            ok = False
        if Canary.hits:
            print(f"  FAILED: the redirect was followed ({Canary.hits} requests reached the other origin)")
            ok = False
        leaked = []
        for name in ["report.json", "junit.xml", "cache.sqlite", "cache.sqlite-wal"]:
            path = d.path(name)
            if os.path.exists(path) and SECRET.encode() in open(path, "rb").read():
                leaked.append(name)
        for name, text in [("stdout", p.stdout), ("stderr", p.stderr)]:
            if SECRET.encode() in text:
                leaked.append(name)
        if leaked:
            print(f"  FAILED: the key appears in {', '.join(leaked)}")
            ok = False
        else:
            print("  the key appears in none of report.json, junit.xml, cache.sqlite(-wal), stdout, stderr")
        first = report["summary"].get("first_error_messages", {})
        for k in sorted(first):
            print(f"    {k}: {first[k][:110]}")
    for s in servers:
        s.shutdown()
    return ok
