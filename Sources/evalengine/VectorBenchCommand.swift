import ArgumentParser
import EvalCore
import Foundation
import VectorSearch

/// `evalengine vector-bench`: sgemm throughput and exact top-k search on random unit vectors, for
/// `scripts/bench-vectors.sh` (which runs OpenBLAS C, numpy and FAISS on the same shapes).
struct VectorBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vector-bench", abstract: "Measure sgemm GFLOP/s and exact top-k queries/s.")
    @Option(name: .long) var corpus: Int = 100_000
    @Option(name: .long) var queries: Int = 1_000
    @Option(name: .long) var dimensions: Int = 384
    @Option(name: .long) var k: Int = 10
    @Option(name: .long, help: "OpenBLAS threads (0 = its default).") var threads: Int = 0
    @Option(name: .long) var repeats: Int = 3
    @Option(name: .long, help: "Queries per GEMM block (0 = the index's default).") var queryBlock: Int = 0
    @Option(name: .long, help: "Corpus rows per GEMM tile (0 = the index's default).") var corpusTile: Int = 0

    func run() throws {
        if threads > 0 { BLAS.threads = threads }
        var rng = SplitMix64(seed: 42)
        func random(_ rows: Int) -> Matrix {
            var m = Matrix(rows: rows, cols: dimensions, storage: (0..<(rows * dimensions)).map { _ in Float(rng.nextUnit() * 2 - 1) })
            m.normalizeRows()
            return m
        }
        let c = random(corpus)
        let q = random(queries)
        let clock = ContinuousClock()
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        var bestGemm = Double.infinity
        var scores = Matrix(rows: 0, cols: 0)
        for _ in 0..<repeats {
            let t = clock.now
            try Similarity.matrix(q, c, into: &scores)  // reuses its buffer after the first call, as the C baseline does
            bestGemm = min(bestGemm, seconds(clock.now - t))
        }
        let flops = 2.0 * Double(queries) * Double(corpus) * Double(dimensions)
        var index = try ExactIndex(corpus: c, ids: (0..<corpus).map { "d\($0)" })
        if queryBlock > 0 { index.queryBlock = queryBlock }
        if corpusTile > 0 { index.corpusTile = corpusTile }
        var bestSearch = Double.infinity
        for _ in 0..<repeats {
            let t = clock.now
            _ = try index.search(q, k: k)
            bestSearch = min(bestSearch, seconds(clock.now - t))
        }
        print(String(format: "evalengine: OpenBLAS %@, %d threads; sgemm %d x %d x %d: %.3f s, %.1f GFLOP/s; exact top-%d: %.3f s, %.0f queries/s",
                     BLAS.coreName, BLAS.threads, queries, dimensions, corpus, bestGemm, flops / bestGemm / 1e9, k, bestSearch, Double(queries) / bestSearch))
    }
}
