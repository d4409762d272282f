"""Hostile requests against a live `evalengine serve` with bearer auth: each must get its 4xx, none a
5xx, nothing outside the data directory is read, no connection goes to a URL a request names, slow
clients are cut off, and the server keeps serving everyone else throughout."""
import json
import os
import socket
import threading
import time

from common import Scratch, Server, Simulator, http

TOKEN = "s3cret-token-for-the-reliability-suite"


def raw_request(port, data, read_timeout=10):
    """Sends raw bytes, returns (status or None, seconds until the server answered or closed)."""
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(data)
        got = s.recv(4096)
        status = int(got.split(b" ")[1]) if got.startswith(b"HTTP/1.1 ") else None
        return status, time.time() - t0
    except OSError:
        return None, time.time() - t0
    finally:
        s.close()


def run(binary):
    s = Scratch(20)
    sim = Simulator(binary, s, "latency: {distribution: none}\n")
    s.endpoints(sim.port)
    # A canary listener: if any request could make the service connect to a URL it names, this sees it.
    canary = socket.socket()
    canary.bind(("127.0.0.1", 0))
    canary.listen(16)
    canary.settimeout(0.2)
    canary_port = canary.getsockname()[1]
    outside = s.write("outside-secret.txt", "TOP SECRET\n")
    os.symlink(outside, s.path("data/link-out.jsonl"))
    os.environ["EVALENGINE_REL_TOKENS"] = TOKEN
    config = s.write("service.yaml", "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\nreports_dir: state/reports\n"
                     "limits: {max_body_bytes: 65536, idle_timeout_seconds: 2, body_timeout_seconds: 2}\n"
                     "auth: {tokens_env: EVALENGINE_REL_TOKENS, protect_metrics: true}\n")
    server = Server(binary, config, s.dir, s.path("server.err"))
    port = int(server.base.rsplit(":", 1)[1])
    auth = {"Authorization": f"Bearer {TOKEN}"}
    good = {"golden_set": {"ref": "g.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "sim"}
    results = []

    def check(name, status, expected, detail=""):
        ok = status in expected
        results.append((name, status, ok))
        print(f"  {'ok ' if ok else 'BAD'} {name}: {status} (expected {'/'.join(map(str, expected))}) {detail}")

    def post(body, headers=auth, path="/v1/eval"):
        return http("POST", server.base + path, body, headers)

    try:
        # Tokens.
        check("no token", post(good, {})[0], [401])
        check("wrong token", post(good, {"Authorization": "Bearer nope"})[0], [401])
        check("token as Basic", post(good, {"Authorization": f"Basic {TOKEN}"})[0], [401])
        check("token prefix only", post(good, {"Authorization": f"Bearer {TOKEN[:-1]}"})[0], [401])
        check("/metrics without token (protected)", http("GET", server.base + "/metrics")[0], [401])
        check("/healthz without token (open)", http("GET", server.base + "/healthz")[0], [200])
        # Size, nesting, numbers, encoding.
        check("1 MiB body over a 64 KiB limit", post(b"{" + b" " * (1 << 20) + b"}")[0], [413])
        deep = b'{"golden_set": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        st, _, env = post(deep)
        check("100,000 nested arrays", st, [400, 413], env.get("error", {}).get("message", "")[:60] if isinstance(env, dict) else "")
        deep_small = b'{"options": ' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}"
        st, _, env = post(deep_small)
        check("5,000 nested objects (under the size limit)", st, [400], env.get("error", {}).get("message", "")[:60])
        for name, text in [("min_pass_rate 1e999", '{"min_pass_rate": 1e999}'), ("min_pass_rate -1e308", '{"min_pass_rate": -1e308}'),
                           ("max_cost_usd NaN", '{"max_cost_usd": NaN}'), ("min_scored_cases 1e300", '{"min_scored_cases": 1e300}')]:
            body = ('{"golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim","thresholds":' + text + "}").encode()
            check(f"huge number: {name}", post(body)[0], [400, 422])
        # A concurrency beyond the service's max_cases_per_job is capped to it (documented), not refused.
        body = b'{"golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim","options":{"concurrency": 1e300}}'
        check("huge number: options.concurrency 1e300 (capped)", post(body)[0], [202, 200])
        for name, opts in [("concurrency -5", '{"concurrency": -5}'),
                           ("seed 1e30", '{"seed": 1e30}'), ("concurrency 2.5", '{"concurrency": 2.5}')]:
            body = ('{"golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim","options":' + opts + "}").encode()
            check(f"huge number: options.{name}", post(body)[0], [400, 422])
        bad_utf8 = b'{"golden_set":{"ref":"g\xff\xfe.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim"}'
        check("invalid UTF-8 in a string", post(bad_utf8)[0], [400, 422])
        check("lone surrogate escape", post(b'{"purpose":"\\ud800","golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim"}')[0], [400, 422])
        check("NUL in a ref", post({**good, "golden_set": {"ref": "g.jsonl\u0000.txt"}})[0], [400, 422])
        check("not JSON", post(b"golden_set=g.jsonl")[0], [400])
        check("JSON array body", post(b"[]")[0], [400])
        # Path traversal: only data_dir is readable.
        leaked = False
        for ref in ["../outside-secret.txt", "/etc/passwd", "data/../../outside-secret.txt", "./../outside-secret.txt",
                    "%2e%2e/outside-secret.txt", "link-out.jsonl", "..\\outside-secret.txt", "~/x.jsonl", "g.jsonl/../../outside-secret.txt"]:
            st, _, env = post({**good, "golden_set": {"ref": ref}})
            leaked |= "TOP SECRET" in json.dumps(env)
            check(f"ref {ref!r}", st, [422])
        check("no file content in any answer", 0 if not leaked else 1, [0])
        # SSRF: endpoints are names from the service config, never URLs.
        for ep in [f"http://127.0.0.1:{canary_port}/v1", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd",
                   f"sim@127.0.0.1:{canary_port}", "gopher://127.0.0.1:25/"]:
            check(f"endpoint {ep!r}", post({**good, "endpoint": ep})[0], [422])
        check("base_url smuggled into a request", post({**good, "base_url": f"http://127.0.0.1:{canary_port}"})[0], [400])
        check("endpoint object instead of a name", post({**good, "endpoint": {"name": "sim", "base_url": f"http://127.0.0.1:{canary_port}"}})[0], [400])
        try:
            canary.accept()
            check("canary listener reached", 1, [0], "THE SERVICE CONNECTED TO A URL FROM A REQUEST")
        except socket.timeout:
            check("canary listener never reached", 0, [0])

        # Slow clients: a head sent one byte at a time never completes; a body drips.
        stop = threading.Event()
        served = []

        def keep_serving():
            while not stop.is_set():
                t0 = time.time()
                st = http("GET", server.base + "/healthz", timeout=10)[0]
                served.append((st, time.time() - t0))
                time.sleep(0.05)

        watcher = threading.Thread(target=keep_serving)
        watcher.start()
        slow = []
        for _ in range(50):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"POST /v1/eval HTTP/1.1\r\nHost: x\r\n")
            slow.append(c)
        t0 = time.time()
        closed_at = [None] * len(slow)
        while time.time() - t0 < 8 and None in closed_at:
            for i, c in enumerate(slow):
                if closed_at[i] is not None:
                    continue
                try:
                    c.sendall(b"X")  # one more byte of a header that never ends
                    c.settimeout(0.01)
                    if c.recv(1) == b"":
                        closed_at[i] = time.time() - t0
                except socket.timeout:
                    pass
                except OSError:
                    closed_at[i] = time.time() - t0
            time.sleep(0.3)
        for c in slow:
            c.close()
        cut = [x for x in closed_at if x is not None]
        check("50 slowloris heads closed by the idle timeout (2 s)", len(cut), [50], f"closed after {min(cut or [0]):.1f}–{max(cut or [0]):.1f} s")
        # A slow body: the head is complete, the body drips one byte per 0.2 s.
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"POST /v1/eval HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        t0 = time.time()
        answer = b""
        c.settimeout(0.05)
        while time.time() - t0 < 8 and not answer:
            try:
                c.sendall(b" ")
                answer = c.recv(4096)
            except socket.timeout:
                pass
            except OSError:
                break
            time.sleep(0.2)
        c.close()
        status = int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.1 ") else None
        check("slow body (1 byte / 0.2 s)", status, [408], f"answered after {time.time() - t0:.1f} s")
        stop.set()
        watcher.join()
        worst = max(d for _, d in served)
        check("/healthz served throughout", sum(1 for st, _ in served if st == 200), [len(served)], f"{len(served)} requests, slowest {worst * 1000:.0f} ms")

        # After all of it: alive, and a real job still runs.
        st, _, env = http("POST", server.base + "/v1/eval?wait=60", good, auth)
        check("a real eval afterwards", st, [200], f"verdict {env.get('verdict')}")
        fivexx = [r for r in results if isinstance(r[1], int) and r[1] >= 500]
        check("no 5xx in any answer", len(fivexx), [0])
        log = open(s.path("server.err")).read()
        check("the token never appears in the server's log", int(TOKEN in log), [0])
    finally:
        server.stop()
        sim.stop()
        canary.close()
    bad = [r for r in results if not r[2]]
    print(f"hostile: {len(results) - len(bad)}/{len(results)} checks held")
    return not bad
