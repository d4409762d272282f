import Foundation
import Synchronization

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
    /// Corpus rows per GEMM tile. Large tiles keep OpenBLAS near its full-matrix speed (small N
    /// costs it ~25%); the score buffer is `queryBlock × corpusTile` floats (128 MiB by default),
    /// allocated once per index and reused.
    public var corpusTile = 32_768
    /// Queries per GEMM block (concurrent single queries are batched into one GEMM this way).
    public var queryBlock = 1_024
    /// Threads for the per-query selection.
    public var selectionThreads = ProcessInfo.processInfo.activeProcessorCount
    private let scratch = ScoreScratch()

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
        // Reusing the buffer matters: a fresh one costs page faults on every search.
        var scores = scratch.take(count: min(block, queries.rows) * min(tile, corpus.rows))
        defer { scratch.give(scores) }
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
                            // Selection runs on all cores, like the GEMM before it: queries are
                            // independent, and each thread touches only its own heaps and score rows.
                            heaps.withUnsafeMutableBufferPointer { hp in
                                let shared = SelectionBuffers(scores: UnsafeBufferPointer(out), heaps: hp.baseAddress!)
                                let chunks = min(qn, selectionThreads)
                                let (firstQuery, firstRow, ids) = (q0, c0, ids)
                                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                                    var i = chunk
                                    while i < qn {
                                        let row = UnsafeBufferPointer(rebasing: shared.scores[(i * cn)..<((i + 1) * cn)])
                                        shared.heaps[firstQuery + i].offer(row, base: firstRow, ids: ids)
                                        i += chunks
                                    }
                                }
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

/// The search's score buffer, kept between searches (one search at a time takes it; a concurrent
/// search allocates its own).
final class ScoreScratch: Sendable {
    private let buffer = Mutex<[Float]>([])

    func take(count: Int) -> [Float] {
        var b = buffer.withLock { b -> [Float] in
            let out = b
            b = []
            return out
        }
        if b.count < count {
            b = [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
        }
        return b
    }

    func give(_ b: [Float]) { buffer.withLock { $0 = b } }
}

/// The score block and heaps shared by the selection threads; each thread uses disjoint rows.
private struct SelectionBuffers: @unchecked Sendable {
    let scores: UnsafeBufferPointer<Float>
    let heaps: UnsafeMutablePointer<TopK>
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
