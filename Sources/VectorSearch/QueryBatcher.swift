/// Batches concurrent single-query searches into one GEMM: a query waits at most `window` for
/// others (or until `maxBatch` have gathered), then the whole batch goes through
/// `ExactIndex.search` at once. A single query against a large corpus is memory-bound (one pass
/// over the corpus per query); a batch of them costs about the same pass.
public actor QueryBatcher {
    public let index: ExactIndex
    public let maxBatch: Int
    public let window: Duration
    private var pending: [(vector: [Float], k: Int, continuation: CheckedContinuation<Result<[Neighbor], VectorError>, Never>)] = []
    private var flushScheduled = false
    /// GEMM batches run so far (for tests and metrics).
    public private(set) var batchesRun = 0

    public init(index: ExactIndex, maxBatch: Int = 256, window: Duration = .milliseconds(1)) {
        self.index = index
        self.maxBatch = max(1, maxBatch)
        self.window = window
    }

    /// The `k` nearest corpus rows to `query`.
    public func search(_ query: [Float], k: Int) async throws(VectorError) -> [Neighbor] {
        guard query.count == index.corpus.cols else {
            throw VectorError("query has \(query.count) dimensions, the corpus \(index.corpus.cols)")
        }
        let result = await withCheckedContinuation { continuation in
            pending.append((query, k, continuation))
            if pending.count >= maxBatch {
                flush()
            } else if !flushScheduled {
                flushScheduled = true
                // The timer belongs to the batcher, which outlives any one caller.
                Task { [window] in
                    try? await Task.sleep(for: window)
                    self.flush()
                }
            }
        }
        return try result.get()
    }

    private func flush() {
        flushScheduled = false
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll()
        batchesRun += 1
        let d = index.corpus.cols
        var storage: [Float] = []
        storage.reserveCapacity(batch.count * d)
        for item in batch { storage.append(contentsOf: item.vector) }
        let k = batch.map(\.k).max() ?? 1
        do {
            let results = try index.search(Matrix(rows: batch.count, cols: d, storage: storage), k: k)
            for (i, item) in batch.enumerated() { item.continuation.resume(returning: .success(Array(results[i].prefix(item.k)))) }
        } catch {
            for item in batch { item.continuation.resume(returning: .failure(error)) }
        }
    }
}
