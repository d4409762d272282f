/// One search hit.
public struct Neighbor: Sendable, Equatable {
    /// Row of the corpus.
    public var index: Int
    public var id: String
    public var score: Float
}

/// Exact k-nearest-neighbour search by inner product (cosine on normalised rows).
///
/// Queries go in blocks and the corpus in tiles: each block × tile is one `cblas_sgemm` into a
/// bounded buffer, followed by a per-query partial selection (a k-sized heap that rejects most
/// scores with one comparison). Memory is `queryBlock × corpusTile` floats whatever the corpus
/// size. Ties are broken by id (UTF-8 bytes, ascending), so results repeat exactly.
public struct ExactIndex: Sendable {
    public let corpus: Matrix
    public let ids: [String]
    /// Corpus rows per GEMM tile.
    public var corpusTile = 16_384
    /// Queries per GEMM block (concurrent single queries are batched into one GEMM this way).
    public var queryBlock = 256

    public init(corpus: Matrix, ids: [String]) throws(VectorError) {
        guard corpus.rows == ids.count else { throw VectorError("\(corpus.rows) corpus vectors but \(ids.count) ids") }
        guard corpus.rows > 0 else { throw VectorError("the corpus is empty") }
        self.corpus = corpus
        self.ids = ids
    }

    /// The `k` best corpus rows for each query row, best first.
    public func search(_ queries: Matrix, k: Int) throws(VectorError) -> [[Neighbor]] {
        guard queries.cols == corpus.cols else {
            throw VectorError("query embeddings have \(queries.cols) dimensions, the corpus \(corpus.cols)")
        }
        guard k > 0 else { return Array(repeating: [], count: queries.rows) }
        let d = corpus.cols
        let kk = min(k, corpus.rows)
        var heaps = (0..<queries.rows).map { _ in TopK(k: kk) }
        let tile = max(1, corpusTile)
        let block = max(1, queryBlock)
        var scores = [Float](repeating: 0, count: min(block, queries.rows) * min(tile, corpus.rows))
        queries.storage.withUnsafeBufferPointer { q in
            corpus.storage.withUnsafeBufferPointer { c in
                scores.withUnsafeMutableBufferPointer { out in
                    var q0 = 0
                    while q0 < queries.rows {
                        let qn = min(block, queries.rows - q0)
                        var c0 = 0
                        while c0 < corpus.rows {
                            let cn = min(tile, corpus.rows - c0)
                            Similarity.gemm(
                                UnsafeBufferPointer(rebasing: q[(q0 * d)..<((q0 + qn) * d)]), rows: qn,
                                UnsafeBufferPointer(rebasing: c[(c0 * d)..<((c0 + cn) * d)]), rows: cn, dimensions: d,
                                into: UnsafeMutableBufferPointer(rebasing: out[0..<(qn * cn)]))
                            for i in 0..<qn {
                                let row = UnsafeBufferPointer(rebasing: out[(i * cn)..<((i + 1) * cn)])
                                heaps[q0 + i].offer(row, base: c0, ids: ids)
                            }
                            c0 += cn
                        }
                        q0 += qn
                    }
                }
            }
        }
        return heaps.map { h in h.sorted(ids: ids).map { Neighbor(index: $0.index, id: ids[$0.index], score: $0.score) } }
    }
}

/// A bounded heap keeping the k best (score, index) pairs; the worst kept pair is at the root.
struct TopK {
    let k: Int
    var scores: [Float] = []
    var indices: [Int] = []

    init(k: Int) {
        self.k = k
        scores.reserveCapacity(k)
        indices.reserveCapacity(k)
    }

    /// `a` is worse than `b`: lower score, or equal score and a later id.
    @inline(__always)
    static func worse(_ sa: Float, _ ia: Int, _ sb: Float, _ ib: Int, _ ids: [String]) -> Bool {
        if sa != sb { return sa < sb }
        return ids[ib].utf8.lexicographicallyPrecedes(ids[ia].utf8)
    }

    mutating func offer(_ row: UnsafeBufferPointer<Float>, base: Int, ids: [String]) {
        var i = 0
        // Fill up to k.
        while scores.count < k && i < row.count {
            push(row[i], base + i, ids)
            i += 1
        }
        guard i < row.count else { return }
        var threshold = scores[0]
        while i < row.count {
            let s = row[i]
            if s >= threshold {
                if s > threshold || TopK.worse(scores[0], indices[0], s, base + i, ids) {
                    replaceRoot(s, base + i, ids)
                    threshold = scores[0]
                }
            }
            i += 1
        }
    }

    private mutating func push(_ s: Float, _ idx: Int, _ ids: [String]) {
        scores.append(s)
        indices.append(idx)
        var c = scores.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard TopK.worse(scores[c], indices[c], scores[p], indices[p], ids) else { break }
            scores.swapAt(c, p)
            indices.swapAt(c, p)
            c = p
        }
    }

    private mutating func replaceRoot(_ s: Float, _ idx: Int, _ ids: [String]) {
        scores[0] = s
        indices[0] = idx
        var p = 0
        let n = scores.count
        while true {
            let l = 2 * p + 1
            let r = l + 1
            var w = p
            if l < n && TopK.worse(scores[l], indices[l], scores[w], indices[w], ids) { w = l }
            if r < n && TopK.worse(scores[r], indices[r], scores[w], indices[w], ids) { w = r }
            if w == p { return }
            scores.swapAt(p, w)
            indices.swapAt(p, w)
            p = w
        }
    }

    /// Best first.
    func sorted(ids: [String]) -> [(score: Float, index: Int)] {
        zip(scores, indices).map { ($0, $1) }.sorted { a, b in TopK.worse(b.0, b.1, a.0, a.1, ids) }
    }
}
