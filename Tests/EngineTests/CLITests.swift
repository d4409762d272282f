import EvalCore
import Foundation
import SimulatedModel
import TestSupport
import Testing

/// End to end through the real binary: exit codes, messages, reports, and that bad input sends
/// nothing to the endpoint.
@Suite(.serialized) struct CLITests {
    func endpoints(port: Int, extra: String = "") -> String {
        """
        endpoints:
          - name: sim
            base_url: http://127.0.0.1:\(port)
            model: sim-small
            pricing: {input_per_million: 0.15, output_per_million: 0.6}
            retry: {max_attempts: 4, initial_backoff_seconds: 0.01}
          - name: down
            base_url: http://127.0.0.1:9
            model: sim-small
            pricing: {input_per_million: 0.15, output_per_million: 0.6}
            retry: {max_attempts: 2, initial_backoff_seconds: 0.01}
        \(extra)
        """
    }

    @Test func binaryExists() {
        #expect(FileManager.default.fileExists(atPath: cliPath), "build the package first: \(cliPath)")
    }

    @Test func badInputIsNamedAndNothingIsSent() async throws {
        try await withSimulator { sim, port in
            let dir = scratchDir([
                "endpoints.yaml": endpoints(port: port),
                "malformed.jsonl": "{\"id\": \"a\", \"vars\": {\"question\": \"What is 1 + 1?\"}}\n{\"id\": \"b\", \"vars\": \n",
                "badtype.jsonl": "{\"id\": \"a\", \"vars\": {\"question\": \"hi\"}, \"assert\": [{\"type\": \"equalz\", \"value\": \"x\"}]}\n",
                "missingvar.yaml": "- id: one\n  vars: {question: hi}\n- id: two\n  vars: {topic: hi}\n",
                "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n",
            ])
            let common = ["--prompt", dir + "/prompt.yaml", "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/cache.sqlite"]
            let malformed = try await runCLI(["eval", "--golden", dir + "/malformed.jsonl", "--endpoint", "sim"] + common)
            #expect(malformed.status == 65)
            #expect(malformed.stderr.contains("malformed.jsonl:2: malformed JSON"))
            let badType = try await runCLI(["eval", "--golden", dir + "/badtype.jsonl", "--endpoint", "sim"] + common)
            #expect(badType.status == 65)
            #expect(badType.stderr.contains("badtype.jsonl:1: case 'a': field 'assert[0].type': unknown assertion type 'equalz'"))
            let missing = try await runCLI(["eval", "--golden", dir + "/missingvar.yaml", "--endpoint", "sim"] + common)
            #expect(missing.status == 65)
            #expect(missing.stderr.contains("missingvar.yaml:3: case 'two': field 'vars.question'"))
            let unknown = try await runCLI(["eval", "--golden", qaGolden, "--endpoint", "nope"] + common)
            #expect(unknown.status == 78)
            #expect(unknown.stderr.contains("endpoints.yaml: field 'endpoints': no endpoint named 'nope'"))
            let noFile = try await runCLI(["eval", "--golden", dir + "/absent.jsonl", "--endpoint", "sim"] + common)
            #expect(noFile.status == 66)
            let usage = try await runCLI(["eval", "--golden", qaGolden])
            #expect(usage.status == 64)
            #expect(sim.currentStats.requests == 0)
        }
    }

    @Test func passFailAndInconclusiveExitCodesWithReports() async throws {
        var good = SimulatorProfile()
        good.accuracy = 0.97
        try await withSimulator(good) { sim, port in
            let dir = scratchDir(["endpoints.yaml": endpoints(port: port)])
            let pass = try await runCLI([
                "eval", "--golden", qaGolden, "--prompt", qaPrompt, "--endpoint", "sim", "--config", dir + "/endpoints.yaml",
                "--cache-path", dir + "/cache.sqlite",
                "--gate", qaGate, "--report", dir + "/out/report.json", "--junit", dir + "/out/junit.xml",
            ])
            #expect(pass.status == 0, "\(pass.stdout)\n\(pass.stderr)")
            #expect(pass.stdout.contains("verdict: PASS"))
            let report = try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: dir + "/out/report.json") ?? Data(), as: UTF8.self))
            #expect(report["verdict"] == "pass")
            #expect(report["summary"]?["total"] == 250)
            #expect(report["cases"]?.arrayValue?.count == 250)
            #expect(report["summary"]?["latency_ms"]?["p95"]?.numberValue != nil)
            let junit = String(decoding: FileManager.default.contents(atPath: dir + "/out/junit.xml") ?? Data(), as: UTF8.self)
            #expect(junit.contains("<testsuites name=\"evalengine\" tests=\"250\""))
            #expect(junit.components(separatedBy: "<testcase ").count == 251)
            #expect(sim.currentStats.chat == distinctQuestions(qaGolden))  // one call per distinct request

            let strict = scratchDir(["gate.yaml": "min_pass_rate: 1.0\n"])
            let fail = try await runCLI([
                "eval", "--golden", qaGolden, "--prompt", qaPrompt, "--endpoint", "sim", "--config", dir + "/endpoints.yaml",
                "--gate", strict + "/gate.yaml", "--quiet", "--cache-path", dir + "/cache.sqlite",
            ])
            #expect(fail.status == 1, "\(fail.stdout)\n\(fail.stderr)")
            #expect(fail.stdout.contains("verdict: FAIL"))

            let down = try await runCLI([
                "eval", "--golden", qaGolden, "--prompt", qaPrompt, "--endpoint", "down", "--config", dir + "/endpoints.yaml",
                "--gate", qaGate, "--report", dir + "/down.json", "--quiet", "--cache-path", dir + "/cache.sqlite",
            ])
            #expect(down.status == 2, "\(down.stdout)\n\(down.stderr)")
            #expect(down.stdout.contains("verdict: INCONCLUSIVE"))
            let downReport = try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: dir + "/down.json") ?? Data(), as: UTF8.self))
            #expect(downReport["summary"]?["errored"] == 250)
        }
    }

    @Test func builtInSimulatedEndpointRunsTheDemo() async throws {
        let dir = scratchDir([:])
        let r = try await runCLI(["eval", "--golden", qaGolden, "--prompt", qaPrompt, "--endpoint", "sim", "--gate", qaGate, "--quiet", "--no-cache", "--cache-path", dir + "/c.sqlite"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("eval: 250 cases"))
        let flaky = try await runCLI(["eval", "--golden", qaGolden, "--prompt", qaPrompt, "--endpoint", "sim-flaky", "--gate", qaGate, "--quiet", "--cache-path", dir + "/c.sqlite"])
        #expect(flaky.status == 0, "\(flaky.stdout)\n\(flaky.stderr)")
        #expect(flaky.stdout.contains("errored 0"))
        #expect(!flaky.stdout.contains("retries 0 "))
    }

    @Test func validateCommandChecksWithoutCalling() async throws {
        let ok = try await runCLI(["validate", "--golden", qaGolden, "--prompt", qaPrompt])
        #expect(ok.status == 0 && ok.stdout.contains("250 cases, valid"))
    }
}
