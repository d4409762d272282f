import EvalCore
import Testing
@testable import VectorSearch

func randomMatrix(_ rows: Int, _ cols: Int, seed: UInt64) -> Matrix {
    var rng = SplitMix64(seed: seed)
    return Matrix(rows: rows, cols: cols, storage: (0..<(rows * cols)).map { _ in Float(rng.nextUnit() * 2 - 1) })
}

@Suite struct MatrixTests {
    @Test func badVectorsAreNamed() {
        #expect(throws: VectorError("corpus[1]: 2 dimensions, expected 3")) { try Matrix(vectors: [[1, 2, 3], [1, 2]], name: "corpus") }
        #expect(throws: VectorError("q[0][1]: nan is not a finite number")) { try Matrix(vectors: [[1, .nan]], name: "q") }
        #expect(throws: VectorError("corpus: no vectors")) { try Matrix(vectors: [], name: "corpus") }
        #expect(throws: VectorError.self) { try ExactIndex(corpus: Matrix(rows: 2, cols: 3), ids: ["a"]) }
        #expect(throws: VectorError.self) { try Similarity.cosinePairs(Matrix(rows: 1, cols: 3), Matrix(rows: 1, cols: 4)) }
    }

    @Test func cosinesMatchTheDefinition() throws {
        let a = randomMatrix(37, 384, seed: 1)
        let b = randomMatrix(37, 384, seed: 2)
        let batched = try Similarity.cosinePairs(a, b)
        for i in 0..<37 {
            let x = a.row(i), y = b.row(i)
            var dot = 0.0, nx = 0.0, ny = 0.0
            for j in 0..<384 {
                dot += Double(x[j]) * Double(y[j])
                nx += Double(x[j]) * Double(x[j])
                ny += Double(y[j]) * Double(y[j])
            }
            #expect(abs(Double(batched[i]) - dot / (nx * ny).squareRoot()) < 1e-5)
            #expect(abs(Similarity.cosine(x, y) - batched[i]) < 1e-5)
        }
        let m = try Similarity.matrix(a.normalized(), b.normalized())
        #expect(abs(m.storage[5 * 37 + 5] - batched[5]) < 1e-5)
        #expect(Similarity.cosine([0, 0], [1, 1]) == 0)
    }

    @Test func exactSearchEqualsBruteForceAcrossTilesWithDeterministicTies() throws {
        var corpus = randomMatrix(1000, 48, seed: 3)
        // Rows 10 and 20 identical: equal scores, ordered by id.
        for j in 0..<48 { corpus.storage[20 * 48 + j] = corpus.storage[10 * 48 + j] }
        let ids = (0..<1000).map { "doc\($0)" }
        var index = try ExactIndex(corpus: corpus, ids: ids)
        index.corpusTile = 97
        index.queryBlock = 7
        var queries = randomMatrix(30, 48, seed: 4)
        for j in 0..<48 { queries.storage[j] = corpus.storage[10 * 48 + j] }  // query 0 hits the tie
        let got = try index.search(queries, k: 10)
        let all = try Similarity.matrix(queries, corpus)
        for q in 0..<30 {
            let expected = (0..<1000).sorted { a, b in
                let sa = all.storage[q * 1000 + a], sb = all.storage[q * 1000 + b]
                return sa != sb ? sa > sb : ids[a].utf8.lexicographicallyPrecedes(ids[b].utf8)
            }.prefix(10)
            #expect(got[q].map(\.index) == Array(expected), "query \(q)")
        }
        #expect(got[0][0].id == "doc10" && got[0][1].id == "doc20")
        let again = try index.search(queries, k: 10)
        #expect(again == got)
        #expect(try index.search(queries, k: 5000)[0].count == 1000)
        #expect(throws: VectorError.self) { try index.search(randomMatrix(1, 3, seed: 1), k: 1) }
    }
}

@Suite struct FrechetTests {
    @Test func identicalSetsAreAtDistanceZeroAndAShiftAddsItsSquaredLength() throws {
        let a = randomMatrix(500, 8, seed: 5)
        #expect(try FrechetDistance.between(a, a) < 1e-9)
        var shifted = a
        for r in 0..<500 { shifted.storage[r * 8] += 3 }
        #expect(abs(try FrechetDistance.between(a, shifted) - 9) < 1e-4)
    }

    @Test func oneDimensionalGaussiansFollowTheClosedForm() throws {
        // Two 1-D samples: FD = (μ1-μ2)² + (σ1-σ2)² with sample moments.
        let x: [Float] = [1, 2, 3, 4, 5]
        let y: [Float] = [10, 14, 18, 22, 26]
        func moments(_ v: [Float]) -> (Double, Double) {
            let m = v.map(Double.init).reduce(0, +) / Double(v.count)
            let s = v.map { (Double($0) - m) * (Double($0) - m) }.reduce(0, +) / Double(v.count - 1)
            return (m, s.squareRoot())
        }
        let (m1, s1) = moments(x), (m2, s2) = moments(y)
        let fd = try FrechetDistance.between(Matrix(rows: 5, cols: 1, storage: x), Matrix(rows: 5, cols: 1, storage: y))
        #expect(abs(fd - ((m1 - m2) * (m1 - m2) + (s1 - s2) * (s1 - s2))) < 1e-9)
    }
}

@Suite struct QueryBatcherTests {
    @Test func concurrentSingleQueriesShareOneGEMMAndGetTheirOwnAnswers() async throws {
        let corpus = randomMatrix(2000, 32, seed: 9).normalized()
        let index = try ExactIndex(corpus: corpus, ids: (0..<2000).map { "c\($0)" })
        let batcher = QueryBatcher(index: index, maxBatch: 64, window: .milliseconds(50))
        let queries = randomMatrix(64, 32, seed: 10)
        let expected = try index.search(queries, k: 5)
        let got = try await withThrowingTaskGroup(of: (Int, [Neighbor]).self) { group in
            for i in 0..<64 { group.addTask { (i, try await batcher.search(queries.row(i), k: 5)) } }
            var out = [[Neighbor]](repeating: [], count: 64)
            for try await (i, r) in group { out[i] = r }
            return out
        }
        #expect(got == expected)
        #expect(await batcher.batchesRun <= 2)  // 64 queries, one GEMM (two if the window closed early)
        await #expect(throws: VectorError.self) { try await batcher.search([1, 2], k: 1) }
    }
}
