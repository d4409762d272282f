import EvalCore
import GoldenSets
import Foundation
import Testing
@testable import Server

@Suite struct ServiceConfigTests {
    @Test func tokensAreNeverAcceptedInline() throws {
        let dir = NSTemporaryDirectory() + "evalengine-svc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "endpoints:\n  - {name: sim, model: sim-small, simulated: true}\n".write(toFile: dir + "/e.yaml", atomically: true, encoding: .utf8)
        try "endpoints: \(dir)/e.yaml\nauth:\n  tokens: [abc]\n".write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        #expect(throws: InputError.self) { try ServiceConfig.load(path: dir + "/s.yaml") }
        try "endpoints: \(dir)/e.yaml\nauth:\n  tokens_env: EVAL_TOKENS\nlimits: {max_body_bytes: 1000}\n".write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let c = try ServiceConfig.load(path: dir + "/s.yaml", environment: ["EVAL_TOKENS": "t1, t2"])
        #expect(c.tokens == ["t1", "t2"] && c.maxBodyBytes == 1000 && c.endpoints.map(\.name) == ["sim"])
    }
}
