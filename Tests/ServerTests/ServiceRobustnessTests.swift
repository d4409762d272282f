import EvalCore
import Foundation
import ResultStore
import Server
import Testing

/// Issue 15 items 1, 6 and 7: one service per store, a replaced store is noticed, and a job that
/// keeps taking the process down is not resumed forever.
@Suite(.serialized) struct ServiceRobustnessTests {
    func setUp(simPort: Int) -> String {
        scratchDir([
            "data/g.jsonl": arithmeticGoldenSet(8),
            "data/prompt.yaml": promptYAML,
            "endpoints.yaml": """
                endpoints:
                  - {name: sim, base_url: "http://127.0.0.1:\(simPort)", model: sim-small, max_in_flight: 16, retry: {max_attempts: 2, initial_backoff_seconds: 0.01}}
                """,
            "service.yaml": """
                endpoints: endpoints.yaml
                data_dir: data
                store: state/service.sqlite
                reports_dir: state/reports
                drain_grace_seconds: 1
                """,
        ])
    }

    let evalBody = #"{"golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim","thresholds":{"min_pass_rate":0.5}}"#

    @Test func aSecondServiceOnTheSameStoreIsRefusedClearly() async throws {
        let dir = setUp(simPort: 9)
        let first = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
        defer { first.kill9() }
        do {
            _ = try await ServerProcess(config: dir + "/service.yaml", dir: dir, name: "second")
            Issue.record("a second service started on the same store")
        } catch {
            #expect("\(error)".contains("another evalengine serve (pid \(first.process.processIdentifier)) is using the store"))
        }
        #expect(try await http(.GET, first.base + "/healthz").status == 200)
    }

    @Test func aDeletedStoreMakesTheServiceUnready() async throws {
        let dir = setUp(simPort: 9)
        let server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
        defer { server.kill9() }
        #expect(try await http(.GET, server.base + "/readyz").status == 200)
        try FileManager.default.removeItem(atPath: dir + "/state/service.sqlite")
        let ready = try await http(.GET, server.base + "/readyz")
        #expect(ready.status == 503)
        #expect(ready.json["reason"]?.stringValue?.contains("was deleted") == true)
        let submit = try await http(.POST, server.base + "/v1/eval", body: evalBody)
        #expect(submit.status == 503)
        #expect(submit.json["error"]?["code"]?.stringValue == "store_unavailable")
        #expect(try await http(.GET, server.base + "/healthz").status == 200)  // alive, just not ready
    }

    @Test func aJobThatKeepsKillingTheServiceIsErroredNotResumedForever() async throws {
        // Answers take 30 s, so no case is ever persisted before the kill: each start makes no progress.
        let profileDir = scratchDir(["sim.yaml": "latency: {distribution: fixed, ms: 30000}\n"])
        let sim = try await SimulatorProcess(profile: profileDir + "/sim.yaml", dir: profileDir)
        let dir = setUp(simPort: sim.port)
        var server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
        let submitted = try await http(.POST, server.base + "/v1/eval", body: evalBody, headers: [("Idempotency-Key", "wf-crash-eval")])
        let jobID = try #require(submitted.json["job_id"]?.stringValue)
        var healthAfterRestart: [Double] = []
        for kill in 1...JobManager.maxStartsWithoutProgress {
            // Wait until the job is on the wire in this process, then take the process down.
            for _ in 0..<200 {
                if (try? await sim.stats().inFlight) ?? 0 > 0 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            server.kill9()
            let restarted = ContinuousClock.now
            server = try await ServerProcess(config: dir + "/service.yaml", dir: dir, name: "restart-\(kill)")
            #expect(try await http(.GET, server.base + "/healthz", timeout: 5).status == 200)
            let d = ContinuousClock.now - restarted
            healthAfterRestart.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        let job = try await http(.GET, server.base + "/v1/jobs/\(jobID)?wait=10").json
        #expect(job["state"]?.stringValue == "errored")
        #expect(job["error"]?["code"]?.stringValue == "crash_loop")
        #expect(job["error"]?["message"]?.stringValue?.contains("without persisting any progress") == true)
        print("healthz after restart (s):", healthAfterRestart.map { String(format: "%.2f", $0) }.joined(separator: " "))
        // The same request again is a new attempt, not the errored one replayed.
        let again = try await http(.POST, server.base + "/v1/eval", body: evalBody, headers: [("Idempotency-Key", "wf-crash-eval")])
        #expect(again.json["attempt"]?.numberValue == 2)
        server.kill9()
    }
}

/// Issue 15 item 9: a queued job runs exactly the inputs it was admitted with.
@Suite(.serialized) struct InputSnapshotTests {
    @Test func aQueuedJobRunsTheInputsItWasAdmittedWithNotLaterEdits() async throws {
        let profileDir = scratchDir(["sim.yaml": "latency: {distribution: fixed, ms: 300}\n"])
        let sim = try await SimulatorProcess(profile: profileDir + "/sim.yaml", dir: profileDir)
        let dir = scratchDir([
            "data/first.jsonl": arithmeticGoldenSet(6),
            "data/g.jsonl": arithmeticGoldenSet(8, offset: 100),
            "data/prompt.yaml": promptYAML,
            "endpoints.yaml": "endpoints:\n  - {name: sim, base_url: \"http://127.0.0.1:\(sim.port)\", model: sim-small, max_in_flight: 2}\n",
            "service.yaml": "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\nreports_dir: state/reports\nlimits: {max_concurrent_jobs: 1}\n",
        ])
        let server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
        defer { server.kill9() }
        func body(_ file: String) -> String {
            #"{"golden_set":{"ref":"\#(file)"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim","thresholds":{"min_pass_rate":0.1}}"#
        }
        let first = try await http(.POST, server.base + "/v1/eval", body: body("first.jsonl"))
        let queued = try await http(.POST, server.base + "/v1/eval", body: body("g.jsonl"))
        #expect(queued.json["state"]?.stringValue == "queued", "\(queued.body)")
        // Edited while the job waits: one case left, and a different one.
        try arithmeticGoldenSet(1, offset: 900).write(toFile: dir + "/data/g.jsonl", atomically: false, encoding: .utf8)
        let id = try #require(queued.json["job_id"]?.stringValue)
        _ = first
        let done = try await http(.GET, server.base + "/v1/jobs/\(id)?wait=60")
        #expect(done.json["state"]?.stringValue == "completed", "\(done.body)")
        #expect(done.json["summary"]?["cases"]?.numberValue == 8)
        let report = try await http(.GET, server.base + "/v1/jobs/\(id)/report")
        #expect(report.body.contains("q100") && !report.body.contains("q900"))
    }
}
