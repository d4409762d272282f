#!/usr/bin/env python3
"""The anchor for the eval runner: a plain Python asyncio runner (standard library only) doing the
same work as `evalengine eval` on an `equals` golden set — render the prompt, POST it to an
OpenAI-compatible endpoint over keep-alive HTTP/1.1 connections, parse the JSON answer, compare it
with the expected value — with CONCURRENCY connections. No cache, no limiter, no retries, no
statistics, no report: the least a runner can do, so a ratio against it shows what evalengine's
extra work costs (or saves). Used by `scripts/bench-eval.sh vs-python`.

  python3 scripts/python-asyncio-runner.py --golden cases.jsonl --port 18091 --concurrency 128
"""
import argparse, asyncio, json, time


async def worker(host, port, queue, results, model):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                case = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = json.dumps({
                "model": model, "temperature": 0, "max_tokens": 128, "seed": 7,
                "messages": [
                    {"role": "system", "content": "You are a precise assistant. Answer with only what is asked, no preamble."},
                    {"role": "user", "content": case["vars"]["question"]},
                ],
            }).encode()
            writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % (host.encode(), len(body)) + body)
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            answer = json.loads(await reader.readexactly(length))
            if status != 200:
                results.append(None)
                continue
            text = answer["choices"][0]["message"]["content"]
            results.append(text.strip() == case["expected"])
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--model", default="sim-small")
    a = ap.parse_args()
    queue = asyncio.Queue()
    n = 0
    with open(a.golden) as f:
        for line in f:
            queue.put_nowait(json.loads(line))
            n += 1
    results = []
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(a.host, a.port, queue, results, a.model) for _ in range(a.concurrency)))
    dt = time.perf_counter() - t0
    passed = sum(1 for r in results if r)
    errors = sum(1 for r in results if r is None)
    print(f"python asyncio runner: {n} cases in {dt:.2f} s = {n / dt:,.0f} cases/s; passed {passed}, errors {errors}")


asyncio.run(main())
