import EvalCore
import Foundation
import NIOHTTP1
import SimulatedModel
import Testing
import TestSupport

/// Named regression suites: a run submits every request (times repeats) as jobs, survives a kill,
/// attaches on a repeated Idempotency-Key, and reports verdicts, pass rate, duration, the flaky
/// cases across repeats and across runs, and metrics.
@Suite(.serialized) struct TestSuiteTests {
    func setUp(simPort: Int) -> String {
        scratchDir([
            "data/g.jsonl": arithmeticGoldenSet(80),
            // Sampled without a seed: the simulator draws anew on each call, so cases near the
            // model's accuracy flip between calls, as a real model's do.
            "data/sampled.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\nparams: {temperature: 1.0}\n",
            "data/prompt.yaml": promptYAML,
            "endpoints.yaml": """
                endpoints:
                  - {name: sim, base_url: "http://127.0.0.1:\(simPort)", model: sim-small, max_in_flight: 16}
                  - {name: weak, base_url: "http://127.0.0.1:\(simPort)", model: sim-weak, max_in_flight: 16}
                """,
            "service.yaml": """
                endpoints: endpoints.yaml
                data_dir: data
                store: state/service.sqlite
                reports_dir: state/reports
                drain_grace_seconds: 1
                test_suites:
                  regression:
                    description: nightly regression of the QA prompt
                    repeats: 2
                    requests:
                      - name: qa-sampled
                        stage: eval
                        body: {golden_set: {ref: g.jsonl}, prompt: {ref: sampled.yaml}, endpoint: sim, thresholds: {min_pass_rate: 0.5}}
                      - name: qa-weak
                        stage: eval
                        body: {golden_set: {ref: g.jsonl}, prompt: {ref: prompt.yaml}, endpoint: weak, thresholds: {min_pass_rate: 0.9}}
                  broken:
                    requests:
                      - {name: missing, stage: eval, body: {golden_set: {ref: nope.jsonl}, prompt: {ref: prompt.yaml}, endpoint: sim}}
                """,
        ])
    }

    @Test func aSuiteRunReportsVerdictsFlakyCasesAndHistory() async throws {
        var profile = SimulatorProfile()
        profile.modelAccuracy = ["sim-weak": 0.3]
        try await withSimulator(profile) { sim, simPort in
            let dir = setUp(simPort: simPort)
            var server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
            let list = try await http(.GET, server.base + "/v1/test-suites")
            #expect(list.json["suites"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["broken", "regression"], "\(list.body)")

            // Started, then the service is killed before the run ends: the next start finishes it.
            let started = try await http(.POST, server.base + "/v1/test-suites/regression/runs", headers: [("Idempotency-Key", "cron-1")])
            #expect(started.status == 202 || started.status == 200, "\(started.body)")
            let runID = started.json["run_id"]?.stringValue ?? ""
            server.kill9()
            server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
            let first = try await http(.GET, server.base + "/v1/test-suites/regression/runs/\(runID)?wait=120")
            #expect(first.status == 200 && first.json["state"]?.stringValue == "completed", "\(first.body)")
            #expect(first.json["items"]?.arrayValue?.count == 4 && first.json["verdict"]?.stringValue == "fail", "\(first.body.prefix(600))")
            #expect(first.json["pass_rate"]?.numberValue == 0.5, "\(first.json["pass_rate"] ?? .null)")
            #expect((first.json["duration_seconds"]?.numberValue ?? -1) >= 0)
            let flaky = first.json["flaky_across_repeats"]?.arrayValue ?? []
            #expect(!flaky.isEmpty && flaky.allSatisfy { $0["request"]?.stringValue == "qa-sampled" }, "\(flaky)")
            // The same key again attaches to the run: no new job, no call to the endpoint.
            let calls = sim.currentStats.chat
            let again = try await http(.POST, server.base + "/v1/test-suites/regression/runs?wait=5", headers: [("Idempotency-Key", "cron-1")])
            #expect(again.json["run_id"]?.stringValue == runID && again.status == 200)
            #expect(sim.currentStats.chat == calls)

            // A second run asks the endpoint again (the suite refreshes the cache): its cases are
            // compared with the first run's, request by request, inputs being identical.
            let second = try await http(.POST, server.base + "/v1/test-suites/regression/runs?wait=120")
            #expect(second.status == 200 && second.json["run_id"]?.stringValue != runID, "\(second.body.prefix(300))")
            // (Repeats of a request in flight at once may share a call: at least one call per case and request.)
            #expect(sim.currentStats.chat >= calls + 2 * 80)
            let history = try await http(.GET, server.base + "/v1/test-suites/regression/runs")
            #expect(history.json["runs"]?.arrayValue?.count == 2, "\(history.body.prefix(400))")
            let acrossRuns = history.json["flaky_across_runs"]?.arrayValue ?? []
            #expect(!acrossRuns.isEmpty && acrossRuns.allSatisfy { $0["request"]?.stringValue == "qa-sampled" && $0["runs"]?.arrayValue?.count == 2 }, "\(acrossRuns.prefix(3))")
            let metrics = try await http(.GET, server.base + "/metrics").body
            #expect(metrics.contains("evalengine_test_pass_rate{suite=\"regression\"} 0.5"), "\(metrics.split(separator: "\n").filter { $0.contains("evalengine_test") })")
            #expect(metrics.contains("evalengine_test_duration_seconds{suite=\"regression\"}"))

            // Unknown suites, and a suite whose request cannot run, are named.
            #expect(try await http(.POST, server.base + "/v1/test-suites/nightly/runs").status == 404)
            let broken = try await http(.POST, server.base + "/v1/test-suites/broken/runs")
            #expect(broken.status == 422 && broken.json["error"]?["code"]?.stringValue == "invalid_suite_request" && broken.body.contains("'missing'"), "\(broken.body)")
            server.kill9()
        }
    }
}
