import EvalCore
import Foundation
import ResultStore
import SimulatedModel
import Testing
import TestSupport
import Spawn

/// Kills, concurrency and damage against the real binary and a real cache file.
@Suite(.serialized) struct DurabilityTests {
    func config(port: Int) -> String {
        """
        endpoints:
          - name: sim
            base_url: http://127.0.0.1:\(port)
            model: sim-small
            max_in_flight: 16
            requests_per_minute: 60000
            pricing: {input_per_million: 0.15, output_per_million: 0.6}
            retry: {max_attempts: 4, initial_backoff_seconds: 0.01}
        """
    }

    /// Report rows that must not depend on how the run was split: id, status, score, output, assertions.
    func comparable(_ reportPath: String) throws -> [String] {
        let report = try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: reportPath) ?? Data(), as: UTF8.self))
        return (report["cases"]?.arrayValue ?? []).map { c in
            let o: JSONValue = ["id": c["id"]!, "status": c["status"]!, "score": c["score"]!, "output": c["output"] ?? .null, "assertions": c["assertions"] ?? .null]
            return o.serialized(sortedKeys: true)
        }.sorted()
    }

    @Test func killedRunResumesSendingOnlyTheRemainingCases() async throws {
        var profile = SimulatorProfile()
        profile.latency = .fixed(ms: 5)
        try await withSimulator(profile) { sim, port in
            let dir = scratchDir(["endpoints.yaml": config(port: port), "g.jsonl": arithmeticGoldenSet(2000), "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n"])
            let args = ["eval", "--golden", dir + "/g.jsonl", "--prompt", dir + "/prompt.yaml", "--endpoint", "sim", "--config", dir + "/endpoints.yaml",
                        "--gate", qaGate, "--quiet", "--cache-path", dir + "/cache.sqlite", "--report", dir + "/resumed.json"]
            let first = try startCLI(args, logBase: dir + "/first")
            // Let it get about halfway (1,000 requests/s), then kill -9.
            while sim.currentStats.chat < 900 && first.isRunning { try await Task.sleep(for: .milliseconds(10)) }
            first.send(SIGKILL)
            first.waitUntilExit()
            // Requests already in the server's socket buffers are still served: let them land.
            try await Task.sleep(for: .milliseconds(300))
            let sentBeforeKill = sim.currentStats.chat
            #expect(sentBeforeKill < 2000)

            let store = try Store.open(path: dir + "/cache.sqlite")
            let digestRun = try #require(try store.stats().runs == 1 ? store.unfinishedRunAny() : nil)
            var persisted = 0
            try store.forEachCaseResult(runID: digestRun.id) { _, _ in persisted += 1 }
            #expect(persisted > 0 && persisted < 2000)

            let second = try await runCLI(args)
            #expect(second.status == 0 || second.status == 1, "\(second.stdout)\n\(second.stderr)")
            let report = try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: dir + "/resumed.json")!, as: UTF8.self))
            #expect(report["run"]?["id"]?.stringValue == digestRun.id)  // resumed automatically: same inputs
            #expect(report["summary"]?["resumed_cases"]?.numberValue == Double(persisted))
            let hits = Int(report["summary"]?["cache_hits"]?.numberValue ?? -1)
            let sentByResume = sim.currentStats.chat - sentBeforeKill
            // Only cases without a persisted result were sent (a few were answered by responses the
            // killed run cached just before dying).
            #expect(sentByResume == 2000 - persisted - hits)
            #expect(sentByResume <= 2000 - persisted)
            print("kill -9 after \(sentBeforeKill) calls: \(persisted) results persisted; the re-run sent \(sentByResume) (\(hits) cache hits)")

            // The final report equals an uninterrupted run's.
            let clean = try await runCLI(["eval", "--golden", dir + "/g.jsonl", "--prompt", dir + "/prompt.yaml", "--endpoint", "sim", "--config", dir + "/endpoints.yaml",
                                    "--gate", qaGate, "--quiet", "--cache-path", dir + "/clean.sqlite", "--report", dir + "/clean.json"])
            #expect(clean.status == second.status)
            let a = try comparable(dir + "/resumed.json")
            let b = try comparable(dir + "/clean.json")
            #expect(a.count == 2000)
            #expect(a == b)
            #expect(try store.integrityCheck() == "ok")
        }
    }

    @Test func twoProcessesShareOneCacheFile() async throws {
        try await withSimulator { sim, port in
            let dir = scratchDir([
                "endpoints.yaml": config(port: port), "a.jsonl": arithmeticGoldenSet(1000, prefix: 1), "b.jsonl": arithmeticGoldenSet(1000, prefix: 2),
                "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n",
            ])
            func args(_ g: String) -> [String] {
                ["eval", "--golden", dir + "/\(g).jsonl", "--prompt", dir + "/prompt.yaml", "--endpoint", "sim", "--config", dir + "/endpoints.yaml",
                 "--gate", qaGate, "--quiet", "--cache-path", dir + "/shared.sqlite"]
            }
            let a = try startCLI(args("a"), logBase: dir + "/a")
            let b = try startCLI(args("b"), logBase: dir + "/b")
            await wait(a)
            await wait(b)
            for (p, name) in [(a, "a"), (b, "b")] {
                let err = String(decoding: FileManager.default.contents(atPath: dir + "/\(name).err") ?? Data(), as: UTF8.self)
                #expect(p.terminationStatus == 0 || p.terminationStatus == 1, "\(name): \(err)")
                #expect(!err.contains("locked"))
            }
            let store = try Store.open(path: dir + "/shared.sqlite")
            #expect(try store.integrityCheck() == "ok")
            let stats = try store.stats()
            #expect(stats.runs == 2 && stats.caseResults == 2000 && stats.responses == 2000)
            #expect(sim.currentStats.chat == 2000)
        }
    }

    @Test func aCorruptCacheFileIsRebuiltWithAWarning() async throws {
        let dir = scratchDir(["cache.sqlite": String(repeating: "not a database ", count: 1000)])
        let r = try await runCLI(["eval", "--golden", qaGolden, "--prompt", qaPrompt, "--endpoint", "sim", "--gate", qaGate, "--quiet", "--cache-path", dir + "/cache.sqlite"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("is not a readable evalengine store"))
        #expect(r.stderr.contains("moved it to"))
    }
}
