import EvalCore
import Foundation
@testable import ModelClient
import ResultStore
import SimulatedModel
import Testing
import TestSupport
@testable import Engine

@Suite struct EmbedderTests {
    @Test func tenThousandTextsGoInCeilNOverBatchRequestsAndAreCachedPerText() async throws {
        let texts = (0..<10_000).map { "passage \($0) about topic \($0 % 97)" }
        let storePath = NSTemporaryDirectory() + "evalengine-embed-\(UUID().uuidString).sqlite"
        try await withSimulator { sim, port in
            let e = EndpointConfig(name: "embed", baseURL: "http://embed.test", model: "sim-embed")
            try await withClient(e, port: port) { client in
                let embedder = Embedder(client: client, batchSize: 128, store: try Store.open(path: storePath))
                let vectors = try await embedder.embed(texts + texts.prefix(500))  // duplicates cost nothing
                #expect(vectors.count == 10_500)
                #expect(sim.currentStats.embeddings == (10_000 + 127) / 128)  // 79 requests
                #expect(vectors[0] == SimulatedEmbedding.vector(texts[0], dimensions: 256))
                #expect(vectors[10_000] == vectors[0])
                let again = try await embedder.embed(Array(texts.prefix(3000)))
                #expect(sim.currentStats.embeddings == 79)  // all from the cache
                #expect(again[2999] == vectors[2999])
            }
        }
    }

    @Test func embeddingsWithOtherDimensionsAreRejected() {
        let json: JSONValue = ["data": [["index": 0, "embedding": [0.1, 0.2]], ["index": 1, "embedding": [0.1, 0.2, 0.3]]]]
        guard case .failure(let e) = EndpointClient.decodeEmbeddings(json, count: 2) else {
            Issue.record("expected a failure")
            return
        }
        #expect(e.kind == "bad_dimensions" && !e.retryable)
    }
}
