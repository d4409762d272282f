import EvalCore
import Foundation
import ModelClient
import ResultStore
import Testing
import TestSupport
@testable import Engine

/// Issue 15 item 17: batches that succeeded are cached even when a later batch fails, and the
/// embedding cache's hits and misses are counted.
@Suite struct EmbedderCacheTests {
    @Test func succeededBatchesAreKeptWhenALaterOneFails() async throws {
        let failing = Mutex(true)
        let server = ScriptedEndpoint { req in
            let body = (try? JSONValue.parse(req.body)) ?? .null
            let inputs = body["input"]?.arrayValue ?? []
            if failing.withLock({ $0 }), inputs.contains(where: { $0.stringValue == "boom" }) {
                return ScriptedAnswer(status: 400, json: ["error": ["message": "input too long"]])
            }
            let data: [JSONValue] = inputs.enumerated().map { i, _ in ["index": .number(Double(i)), "embedding": [0.6, 0.8]] }
            return ScriptedAnswer(json: ["data": .array(data), "usage": ["prompt_tokens": 1, "total_tokens": 1]])
        }
        let dir = NSTemporaryDirectory() + "emb-\(UUID().uuidString)"
        let store = try Store.open(path: dir + "/cache.sqlite")
        let texts = (0..<10).map { "text \($0)" } + ["boom"]
        try await server.with { port in
            var e = EndpointConfig(name: "emb", baseURL: nil, model: "e")
            e.retry.maxAttempts = 1
            try await withClient(e, port: port) { client in
                let embedder = Embedder(client: client, batchSize: 5, store: store, parallelBatches: 1)
                await #expect(throws: ModelCallError.self) { _ = try await embedder.embed(texts) }
                await embedder.recordLookups()
                #expect(try store.stats().embeddings == 10)  // batches 1 and 2 kept; batch 3 failed
                failing.withLock { $0 = false }
                let before = server.requests.count
                let vectors = try await embedder.embed(texts)
                await embedder.recordLookups()
                #expect(vectors.count == 11)
                #expect(server.requests.count == before + 1)  // only the failed batch is sent again
                let stats = try store.stats()
                #expect(stats.embeddingMisses == 11 + 1 && stats.embeddingHits == 10)
            }
        }
    }
}

import Synchronization
