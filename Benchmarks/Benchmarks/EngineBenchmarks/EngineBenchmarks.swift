import Benchmark
import EvalCore
import Fixtures
import Foundation
import ModelClient
import ResultStore
import VectorSearch

/// Hot paths of the engine. Names are identifiers: threshold files are named after them. On CI the malloc counts are the stable figure (wall clock on a shared
/// 2-core host moves 2-3x between runs); run locally with `swift package benchmark`.
let benchmarks: @Sendable () -> Void = {
    // BENCHMARK_CI=1 (the regression guard): malloc counts only, the figure that does not move
    // with the host's load; thresholds live in Thresholds/.
    let ci = ProcessInfo.processInfo.environment["BENCHMARK_CI"] != nil
    Benchmark.defaultConfiguration = .init(
        metrics: ci ? [.mallocCountTotal] : [.wallClock, .mallocCountTotal, .throughput],
        maxDuration: .seconds(2), maxIterations: ci ? 200 : 10_000,
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0])])

    registerRunnerOverhead()

    // Canonical JSON + SHA-256 of a chat request: every cache lookup pays this.
    let body = Fixtures.chatRequest
    Benchmark("CanonicalJSONSHA256") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(SHA256Digest.hex(body.canonicalBytes)) }
    }

    // Report aggregation: 10,000 case outcomes into a summary with intervals and percentiles.
    let cases = Fixtures.outcomes()
    Benchmark("Aggregate10kCases", configuration: .init(maxIterations: 50)) { benchmark in
        for _ in benchmark.scaledIterations {
            var a = SummaryAccumulator()
            for o in cases { a.add(o) }
            blackHole(a.finish(durationSeconds: 1))
        }
    }

    // Retrieval metrics: 1,000 queries x 100 ranked documents, five trec_eval measures.
    let (qrels, run) = Fixtures.retrieval()
    Benchmark("RetrievalMetrics1kQueries", configuration: .init(maxIterations: 50)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RetrievalMetrics.evaluate(qrels: qrels, run: run, measures: Fixtures.measures))
        }
    }

    // Exact top-k: 2,000 queries against 20,000 documents of 384 dimensions (sgemm + selection).
    let dims = 384
    var rng = SplitMix64(seed: 1)
    let corpus = Matrix(rows: 20_000, cols: dims, storage: (0..<(20_000 * dims)).map { _ in Float(rng.nextUnit() - 0.5) }).normalized()
    let queries = Matrix(rows: 2_000, cols: dims, storage: (0..<(2_000 * dims)).map { _ in Float(rng.nextUnit() - 0.5) }).normalized()
    let index = try! ExactIndex(corpus: corpus, ids: (0..<20_000).map { "d\($0)" })
    // Worker threads allocate a little differently run to run: 5% slack here, none elsewhere.
    Benchmark("TopKSearch2kx20kx384", configuration: .init(maxIterations: 20, thresholds: [.mallocCountTotal: .init(relative: [.p90: 5.0])])) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! index.search(queries, k: 10)) }
    }

    // Limiter: one admission and release with room to spare (the per-call overhead).
    let limiter = EndpointLimiter(.init(requestsPerMinute: 1e12, tokensPerMinute: 1e15, maxInFlight: 1_000_000))
    Benchmark("LimiterAcquireRelease") { benchmark in
        for _ in benchmark.scaledIterations {
            try! await limiter.acquire(estimatedTokens: 40)
            await limiter.release(estimatedTokens: 40, actualTokens: 40)
        }
    }

    // Response cache: a hit, and a batch of 256 inserts in one transaction.
    let dir = NSTemporaryDirectory() + "evalengine-bench-\(UUID().uuidString)"
    let store = try! Store.open(path: dir + "/cache.sqlite")
    let value = Fixtures.cacheValue
    let keys = Fixtures.cacheKeys()
    try! store.write(keys.map { .response(key: $0, value: value) })
    Benchmark("CacheHit") { benchmark in
        for i in benchmark.scaledIterations { blackHole(try! store.response(keys[i % keys.count])) }
    }
    var batch = 0
    Benchmark("CacheInsert256", configuration: .init(maxIterations: 200, thresholds: [.mallocCountTotal: .init(relative: [.p90: 5.0])])) { benchmark in
        for _ in benchmark.scaledIterations {
            batch += 1
            let writes: [StoreWrite] = (0..<256).map { .response(key: SHA256Digest.hash(Array("new-\(batch)-\($0)".utf8)), value: value) }
            try! store.write(writes)
        }
    }
}
