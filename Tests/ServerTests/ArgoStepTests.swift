import EvalCore
import Foundation
import GoldenSets
import SimulatedModel
import Testing
import TestSupport
import Spawn

/// The container step of configs/argo/evalengine-stages.yaml, run as Argo would run it (its
/// args, parameters substituted) against a live server: its exit code is the step's outcome.
@Suite(.serialized) struct ArgoStepTests {
    /// The container-stage template's command line with `parameters` substituted and its
    /// /tmp/evalengine/ paths moved into `dir`.
    func stepCommand(_ parameters: [String: String], dir: String) throws -> [String] {
        let doc = try ConfigFiles.document(repoRoot + "/configs/argo/evalengine-stages.yaml").json
        let template = try #require(doc["spec"]?["templates"]?.arrayValue?.first { $0["name"]?.stringValue == "container-stage" })
        let command = (template["container"]?["command"]?.arrayValue ?? []).compactMap { $0.stringValue }
        let args = (template["container"]?["args"]?.arrayValue ?? []).compactMap { $0.stringValue }
        #expect(!args.isEmpty)
        #expect(command == ["evalengine"])
        return args.map { arg in
            var a = arg
            for (k, v) in parameters { a = a.replacingOccurrences(of: "{{\(k)}}", with: v) }
            #expect(!a.contains("{{"), "unsubstituted parameter in \(arg)")
            return a.replacingOccurrences(of: "/tmp/evalengine/", with: dir + "/")
        }
    }

    func runStep(_ args: [String], dir: String) async throws -> (status: Int32, verdict: String) {
        let p = try ChildProcess(executable: cliPath, arguments: args, stdout: .null, stderr: .null)
        while p.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        let verdict = String(decoding: FileManager.default.contents(atPath: dir + "/verdict") ?? Data(), as: UTF8.self)
        return (p.terminationStatus, verdict)
    }

    @Test func theContainerStepExitsWithTheVerdictOfAPassingAFailingAndAnErroredJob() async throws {
        var profile = SimulatorProfile()
        profile.modelAccuracy = ["sim-weak": 0.3]
        try await withSimulator(profile) { _, simPort in
            let dir = scratchDir([
                "data/g.jsonl": arithmeticGoldenSet(40),
                "data/prompt.yaml": promptYAML,
                "data/corpus.jsonl": "{\"id\": \"d1\", \"text\": \"alpha beta\"}\n{\"id\": \"d2\", \"text\": \"gamma delta\"}\n",
                "data/queries.jsonl": "{\"id\": \"q1\", \"text\": \"alpha\"}\n",
                "data/qrels.txt": "q1 0 d1 1\n",
                "data/rag.yaml": "name: rag\nchunker: {type: fixed_chars, size: 100, overlap: 0}\nembedding: {endpoint: down, model: e}\nk: 10\n",
                "endpoints.yaml": """
                    endpoints:
                      - {name: sim, base_url: "http://127.0.0.1:\(simPort)", model: sim-small}
                      - {name: weak, base_url: "http://127.0.0.1:\(simPort)", model: sim-weak}
                      - {name: down, base_url: "http://127.0.0.1:9", model: e, retry: {max_attempts: 1}, timeouts: {connect_seconds: 1}}
                    """,
                "service.yaml": "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/s.sqlite\nreports_dir: state/reports\n",
            ])
            let server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
            let cases: [(String, String, String, Int32, String)] = [
                ("pass", "eval", #"{"golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim","thresholds":{"min_pass_rate":0.5}}"#, 0, "pass"),
                ("fail", "eval", #"{"golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"weak","thresholds":{"min_pass_rate":0.9}}"#, 1, "fail"),
                // 40 paired cases cannot tell a 2-point margin apart: inconclusive, exit 2.
                ("inconclusive", "shadow-compare", #"{"cases":{"ref":"g.jsonl"},"baseline":{"endpoint":"sim","prompt":{"ref":"prompt.yaml"}},"candidate":{"endpoint":"sim"}}"#, 2, "inconclusive"),
                ("errored", "index-test",
                 #"{"corpus":{"ref":"corpus.jsonl"},"queries":{"ref":"queries.jsonl"},"qrels":{"ref":"qrels.txt"},"baseline_config":{"ref":"rag.yaml"},"candidate_config":{"ref":"rag.yaml"}}"#, 3, "error"),
            ]
            for (name, stage, request, expectedStatus, expectedVerdict) in cases {
                let stepDir = dir + "/step-" + name
                try FileManager.default.createDirectory(atPath: stepDir, withIntermediateDirectories: true)
                // The template's raw input artifact: the request body at /tmp/evalengine/request.json.
                try request.write(toFile: stepDir + "/request.json", atomically: true, encoding: .utf8)
                let args = try stepCommand([
                    "inputs.parameters.stage": stage, "inputs.parameters.service-url": server.base, "workflow.uid": "wf-\(name)",
                    "inputs.parameters.key-suffix": "",
                ], dir: stepDir)
                let r = try await runStep(args, dir: stepDir)
                #expect(r.status == expectedStatus, "\(name): exit \(r.status)")
                #expect(r.verdict == expectedVerdict, "\(name): verdict \(r.verdict)")
                if stage == "eval" {
                    // The report artifact is the full per-case report.
                    let report = try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: stepDir + "/report.json") ?? Data(), as: UTF8.self))
                    #expect(report["cases"]?.arrayValue?.count == 40)
                }
            }
        }
    }
}
