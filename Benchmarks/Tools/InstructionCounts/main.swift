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
