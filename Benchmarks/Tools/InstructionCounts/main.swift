// Deterministic workloads for instruction counting under callgrind (scripts/bench-instructions.sh).
// These VMs expose no hardware counters (package-benchmark's `instructions` metric reads nothing),
// and callgrind counts the same instructions for the same binary and input on any host. Each
// workload's setup runs outside `measuredRegion`; the script collects only inside it
// (`--toggle-collect=*measuredRegion*`). Single-threaded code only: thread interleaving would
// make the count move. Run with SWIFT_DETERMINISTIC_HASHING=1 (the script does), or Dictionary
// hashing differs per process.
import EvalCore
import Fixtures
import Foundation
import ModelClient
import NIOCore
import NIOPosix
import ResultStore

@inline(never)
func measuredRegion(_ body: () throws -> Void) rethrows {
    try body()
}

@inline(never)
func sink<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

let workloads: [String: () throws -> Void] = [
    // 1,000 cache keys of a chat request: canonical JSON + SHA-256.
    "CanonicalJSONSHA256x1000": {
        let body = Fixtures.chatRequest
        measuredRegion {
            for _ in 0..<1000 { sink(SHA256Digest.hex(body.canonicalBytes)) }
        }
    },
    // The runner's lean request path without the socket, 1,000 times: the request body written
    // canonically, an answer's bytes parsed as HTTP/1.1 and its JSON decoded into the fields we use.
    "LeanRequestPath1000": {
        let e = EndpointConfig(name: "b", baseURL: "http://127.0.0.1:1", model: "sim-small")
        let client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: nil, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        var params = ModelParams()
        params.temperature = 0
        params.maxTokens = 128
        params.seed = 7
        let request = ModelRequest(messages: [ChatMessage(role: "system", content: "You are a precise assistant. Answer with only what is asked."),
                                              ChatMessage(role: "user", content: "What is 176 * 115?")], params: params)
        let answer = #"{"id":"cmpl-1","object":"chat.completion","model":"sim-small","choices":[{"index":0,"message":{"role":"assistant","content":"20240"},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":2,"total_tokens":26}}"#
        let wire = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(answer.utf8.count)\r\nDate: Tue, 01 Dec 2026 22:18:02 GMT\r\nServer: sim\r\n\r\n" + answer)
        measuredRegion {
            for _ in 0..<1000 {
                sink(client.canonicalBody(for: request))
                var parser = HTTP1ResponseParser(maxBodyBytes: 1 << 20)
                guard let answer = try? parser.feed(wire), let json = try? answer.body.withUnsafeReadableBytes({ raw in
                    try JSONValue.parse(bytes: UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
                }) else { fatalError("the fixture answer does not parse") }
                sink(EndpointClient.decodeCompletion(json, latencyMs: 1))
            }
        }
    },
    // 10,000 case outcomes aggregated into a summary (intervals, percentiles, bootstrap).
    "Aggregate10kCases": {
        let outcomes = Fixtures.outcomes()
        measuredRegion {
            var a = SummaryAccumulator()
            for o in outcomes { a.add(o) }
            sink(a.finish(durationSeconds: 1))
        }
    },
    // Five trec_eval measures over 1,000 queries x 100 ranked documents.
    "RetrievalMetrics1kQueries": {
        let (qrels, run) = Fixtures.retrieval()
        let measures = Fixtures.measures
        measuredRegion {
            sink(RetrievalMetrics.evaluate(qrels: qrels, run: run, measures: measures))
        }
    },
    // 1,000 response-cache hits (800-byte values) from a 10,000-entry SQLite store.
    "CacheHit1000": {
        let dir = NSTemporaryDirectory() + "evalengine-icount-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store.open(path: dir + "/cache.sqlite")
        let value = Fixtures.cacheValue
        let keys = Fixtures.cacheKeys()
        try store.write(keys.map { .response(key: $0, value: value) })
        for i in 0..<100 { sink(try store.response(keys[i])) }  // warm the statement cache and pages
        try measuredRegion {
            for i in 0..<1000 { sink(try store.response(keys[(i * 7) % keys.count])) }
        }
    },
]

let args = CommandLine.arguments.dropFirst()
if args.first == "--list" {
    print(workloads.keys.sorted().joined(separator: "\n"))
} else if let name = args.first, let workload = workloads[name] {
    try workload()
} else {
    FileHandle.standardError.write(Data("usage: InstructionCounts --list | WORKLOAD\n".utf8))
    exit(64)
}
