import EvalCore
import Foundation
import ModelClient
import ResultStore
import Synchronization

/// Embeds texts through an endpoint's `/v1/embeddings`: duplicates removed, each text looked up in
/// the embedding cache, the misses sent `batchSize` at a time (several batches in flight, each
/// admitted by the endpoint's limiter), and the new vectors cached per text.
public final class Embedder: Sendable {
    public let client: EndpointClient
    public let batchSize: Int
    public let store: Store?
    public let mode: CacheMode
    /// Batches in flight at once.
    public let parallelBatches: Int
    private let lookups = Mutex<(hits: Int, misses: Int)>((0, 0))

    public init(client: EndpointClient, batchSize: Int = 128, store: Store? = nil, mode: CacheMode = .readWrite, parallelBatches: Int = 4) {
        self.client = client
        self.batchSize = max(1, batchSize)
        self.store = store
        self.mode = store == nil ? .off : mode
        self.parallelBatches = max(1, parallelBatches)
    }

    /// Adds the cache lookups made so far to the store's lifetime counters (`cache stats`), once
    /// per run rather than a write per lookup.
    public func recordLookups() async {
        let (hits, misses) = lookups.withLock { c -> (Int, Int) in
            defer { c = (0, 0) }
            return c
        }
        guard let store, hits + misses > 0 else { return }
        _ = try? await store.writing { store throws(SQLiteError) in try store.addCounters(hits: 0, misses: 0, embeddingHits: hits, embeddingMisses: misses) }
    }

    /// One vector per input text, in order. All vectors have the same dimension.
    public func embed(_ texts: [String], model requestedModel: String? = nil) async throws(ModelCallError) -> [[Float]] {
        var unique: [String: Int] = [:]
        var order: [String] = []
        for t in texts where unique[t] == nil {
            unique[t] = order.count
            order.append(t)
        }
        var vectors = [[Float]?](repeating: nil, count: order.count)
        let identity = client.cacheIdentity
        let model = requestedModel ?? client.endpoint.model
        if mode.reads, let store {
            for (i, t) in order.enumerated() {
                vectors[i] = try? store.embedding(CacheKeys.embedding(endpointIdentity: identity, model: model, text: t))
            }
        }
        let missing = vectors.indices.filter { vectors[$0] == nil }
        if mode.reads { lookups.withLock { $0.hits += order.count - missing.count; $0.misses += missing.count } }
        let batches = stride(from: 0, to: missing.count, by: batchSize).map { Array(missing[$0..<min($0 + batchSize, missing.count)]) }
        let client = self.client
        let writes = mode.writes ? store : nil
        /// Caches one batch's vectors as soon as it arrives: when a later batch fails, a rerun pays
        /// only for what failed.
        func keep(_ b: Int, _ batchVectors: [[Float]]) async {
            for (j, index) in batches[b].enumerated() { vectors[index] = batchVectors[j] }
            guard let writes else { return }
            let rows = batches[b].enumerated().map { j, index in
                StoreWrite.embedding(key: CacheKeys.embedding(endpointIdentity: identity, model: model, text: order[index]), vector: batchVectors[j])
            }
            _ = try? await writes.writing { store throws(SQLiteError) in try store.write(rows) }
        }
        do {
            try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { group in
                var next = 0
                func add() {
                    let b = next
                    let texts = batches[b].map { order[$0] }
                    group.addTask { (b, try await client.embed(texts, model: model).vectors) }
                    next += 1
                }
                while next < min(parallelBatches, batches.count) { add() }
                while let (b, batchVectors) = try await group.next() {
                    await keep(b, batchVectors)
                    if next < batches.count { add() }
                }
            }
        } catch let error as ModelCallError {
            throw error
        } catch {
            throw ModelCallError(code: .cancelled, message: "\(error)", retryable: false, attempts: 0, rateLimited: 0)
        }
        let dimension = vectors.first??.count ?? 0
        if let bad = vectors.firstIndex(where: { $0?.count != dimension }) {
            throw ModelCallError(code: .badDimensions, message: "embedding of text \(bad) has \(vectors[bad]?.count ?? 0) dimensions, others \(dimension)", retryable: false, attempts: 0, rateLimited: 0)
        }
        return texts.map { vectors[unique[$0]!]! }
    }
}
