import EvalCore
import Foundation
import Synchronization
import Testing
@testable import ResultStore

func tempStorePath() -> String { NSTemporaryDirectory() + "evalengine-store-\(UUID().uuidString)/cache.sqlite" }

@Suite struct CacheKeyTests {
    let body: JSONValue = [
        "model": "gpt-x", "temperature": 0, "seed": 7,
        "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "What is 2 + 2?"]],
    ]

    func key(_ body: JSONValue, base: String = "https://api.example.com", model: String = "gpt-x") -> [UInt8] {
        CacheKeys.response(endpointIdentity: base, model: model, api: "chat", body: body)
    }

    @Test func keyOrderAndNumberSpellingDoNotMatter() throws {
        let reordered = try JSONValue.parse(#"{"seed":7.0,"messages":[{"content":"Be brief.","role":"system"},{"content":"What is 2 + 2?","role":"user"}],"temperature":0.0,"model":"gpt-x"}"#)
        #expect(key(body) == key(reordered))
        #expect(key(body).count == 32)
    }

    @Test func everythingThatChangesTheAnswerChangesTheKey() {
        var o = body.objectValue!
        o["temperature"] = 0.7
        #expect(key(.object(o)) != key(body))
        o = body.objectValue!
        o["model"] = "gpt-y"
        #expect(key(.object(o), model: "gpt-y") != key(body))
        o = body.objectValue!
        o["messages"] = [["role": "user", "content": "What is 2 + 3?"]]
        #expect(key(.object(o)) != key(body))
        #expect(key(body, base: "https://other.example.com") != key(body))
        #expect(CacheKeys.response(endpointIdentity: "b", model: "m", api: "chat", body: body, namespace: "repeat:1")
            != CacheKeys.response(endpointIdentity: "b", model: "m", api: "chat", body: body))
    }

    @Test func theKeyFromCanonicalBytesEqualsTheKeyFromTheBody() {
        let bodies: [JSONValue] = [
            ["model": "m", "messages": [["role": "user", "content": "Ünïcödé \"quoted\" \n\u{1}"]], "temperature": 0.7, "max_tokens": 64, "seed": 7],
            ["prompt": "x", "z": [1.5, -0.0, 1e300], "a": .null, "stop": ["\n\n"]],
            [:],
        ]
        for body in bodies {
            for namespace in ["", "repeat:3", "ns \"odd\" ⟂"] {
                for identity in ["https://api.example.com", "simulated:profiles/sim-fast.yaml"] {
                    #expect(CacheKeys.response(endpointIdentity: identity, model: "m", api: "chat", canonicalBody: body.canonicalBytes, namespace: namespace)
                        == CacheKeys.response(endpointIdentity: identity, model: "m", api: "chat", body: body, namespace: namespace))
                }
            }
        }
    }

    @Test func embeddingKeysDependOnEndpointModelAndText() {
        let a = CacheKeys.embedding(endpointIdentity: "e", model: "m", text: "hello")
        #expect(a == CacheKeys.embedding(endpointIdentity: "e", model: "m", text: "hello"))
        #expect(a != CacheKeys.embedding(endpointIdentity: "e", model: "m2", text: "hello"))
        #expect(a != CacheKeys.embedding(endpointIdentity: "e", model: "m", text: "hello "))
    }
}

@Suite struct StoreTests {
    @Test func responsesAndEmbeddingsRoundTripWithTTL() throws {
        let store = try Store.open(path: tempStorePath())
        let k = SHA256Digest.hash(Array("k".utf8))
        #expect(try store.response(k) == nil)
        try store.write([.response(key: k, value: Array("{\"text\":\"hi\"}".utf8)), .embedding(key: k, vector: [0.25, -1, 3.5])])
        #expect(try store.response(k) == Array("{\"text\":\"hi\"}".utf8))
        #expect(try store.embedding(k) == [0.25, -1, 3.5])
        #expect(try store.response(k, maxAge: 3600) != nil)
        #expect(try store.response(k, maxAge: -1) == nil)  // older than the TTL
    }

    @Test func aDamagedValueIsAMissNotAWrongAnswer() throws {
        let path = tempStorePath()
        let store = try Store.open(path: path)
        let k = SHA256Digest.hash(Array("k".utf8))
        try store.write([.response(key: k, value: Array("{\"text\":\"Paris\"}".utf8))])
        // Flip the stored bytes behind the store's back.
        let raw = try SQLiteConnection(path: path)
        try raw.execute("UPDATE responses SET value = CAST('{\"text\":\"Rome\"}' AS BLOB)")
        #expect(try store.response(k) == nil)
        #expect(store.damagedRows == 1)
    }

    @Test func aFileThatIsNotADatabaseIsMovedAsideWithAWarning() throws {
        let path = tempStorePath()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: 8192))
        let warnings = Mutex<[String]>([])
        let store = try Store.open(path: path) { w in warnings.withLock { $0.append(w) } }
        #expect(warnings.withLock { $0.count } == 1)
        #expect(warnings.withLock { $0[0] }.contains("moved it to"))
        #expect(try store.integrityCheck() == "ok")
        let dir = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".corrupt-") })
    }

    @Test func aStoreFromANewerVersionIsRefused() throws {
        let path = tempStorePath()
        _ = try Store.open(path: path)
        let raw = try SQLiteConnection(path: path)
        try raw.execute("PRAGMA user_version = 99")
        #expect(throws: SQLiteError.self) { try Store.open(path: path) }
    }

    @Test func runsAndCaseResultsPersistInOrder() throws {
        let store = try Store.open(path: tempStorePath())
        try store.createRun(id: "r1", inputDigest: "d", total: 3000)
        var batch: [StoreWrite] = []
        for i in 1...2500 { batch.append(.caseResult(runID: "r1", caseID: "c\(i)", sequence: i, record: Array("{\"i\":\(i)}".utf8))) }
        try store.write(batch)
        #expect(try store.unfinishedRun(inputDigest: "d")?.id == "r1")
        var seen: [String] = []
        try store.forEachCaseResult(runID: "r1") { id, _ in seen.append(id) }
        #expect(seen.count == 2500 && seen.first == "c1" && seen.last == "c2500")
        try store.finishRun(id: "r1", state: "completed", summary: "{}")
        #expect(try store.unfinishedRun(inputDigest: "d") == nil)
        #expect(try store.run(id: "r1")?.state == "completed")
    }

    @Test func pruneExportAndImport() throws {
        let a = try Store.open(path: tempStorePath())
        let k1 = SHA256Digest.hash([1]), k2 = SHA256Digest.hash([2])
        try a.write([.response(key: k1, value: [1]), .response(key: k2, value: [2]), .embedding(key: k1, vector: [1])])
        let export = NSTemporaryDirectory() + "evalengine-export-\(UUID().uuidString).sqlite"
        try a.exportCaches(to: export)
        #expect(throws: SQLiteError.self) { try a.exportCaches(to: export) }  // never overwrites
        let b = try Store.open(path: tempStorePath())
        #expect(try b.importCaches(from: export) == 3)
        #expect(try b.importCaches(from: export) == 0)  // idempotent
        #expect(try b.response(k2) == [2])
        #expect(try a.prune(olderThan: -10) == 3)  // everything is "older" than the future
        #expect(try a.stats().responses == 0)
        let notAStore = NSTemporaryDirectory() + "evalengine-garbage-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: notAStore, contents: Data("hello".utf8))
        #expect(throws: SQLiteError.self) { try b.importCaches(from: notAStore) }
    }

    @Test func twoConnectionsWritingAtOnceBothSucceed() async throws {
        let path = tempStorePath()
        let first = try Store.open(path: path)
        let second = try Store.open(path: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (n, store) in [(0, first), (1, second)] {
                group.addTask {
                    for batch in 0..<50 {
                        var writes: [StoreWrite] = []
                        for i in 0..<20 {
                            writes.append(.response(key: SHA256Digest.hash(Array("\(n)-\(batch)-\(i)".utf8)), value: [UInt8](repeating: 7, count: 512)))
                        }
                        try store.write(writes)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try first.stats().responses == 2000)
        #expect(try second.integrityCheck() == "ok")
    }
}
