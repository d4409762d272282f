import EvalCore
import Foundation
import SimulatedModel
import TestSupport
import Testing

/// Matrices, repeats and filters through the real binary: one command, one report; bad flags are
/// usage errors that name the flag and send nothing.
@Suite(.serialized) struct MatrixCLITests {
    static func endpoints(port: Int) -> String {
        var text = "endpoints:\n"
        for (name, model) in [("weak", "m-weak"), ("mid", "m-mid"), ("strong", "m-strong")] {
            text += """
                  - name: \(name)
                    base_url: http://127.0.0.1:\(port)
                    model: \(model)
                    pricing: {input_per_million: 0.15, output_per_million: 0.6}
                    retry: {max_attempts: 3, initial_backoff_seconds: 0.01}

                """
        }
        return text
    }

    static var profile: SimulatorProfile {
        var p = SimulatorProfile()
        p.modelAccuracy = ["m-weak": 0.6, "m-mid": 0.85, "m-strong": 0.97]
        return p
    }

    static func report(_ path: String) throws -> JSONValue {
        try JSONValue.parse(bytes: Array(FileManager.default.contents(atPath: path) ?? Data()))
    }

    @Test func badMatrixRepeatAndFilterFlagsAreUsageErrorsAndSendNothing() async throws {
        try await withSimulator(Self.profile) { sim, port in
            let dir = scratchDir(["endpoints.yaml": Self.endpoints(port: port), "other.jsonl": arithmeticGoldenSet(5, prefix: 9)])
            let common = ["eval", "--golden", qaGolden, "--prompt", qaPrompt, "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/c.sqlite"]
            let zero = try await runCLI(common + ["--endpoint", "weak", "--repeat", "0"])
            #expect(zero.status == 64 && zero.stderr.contains("--repeat"))
            let huge = try await runCLI(common + ["--endpoint", "weak", "--repeat", "1000000"])
            #expect(huge.status == 64 && huge.stderr.contains("--repeat"))
            let twice = try await runCLI(common + ["--endpoint", "weak", "--endpoint", "mid", "--endpoint", "weak"])
            #expect(twice.status == 64 && twice.stderr.contains("--endpoint 'weak' is given twice"))
            let promptTwice = try await runCLI(common + ["--endpoint", "weak", "--prompt", qaPrompt])
            #expect(promptTwice.status == 64 && promptTwice.stderr.contains("--prompt"))
            let badRegex = try await runCLI(common + ["--endpoint", "weak", "--filter-id", "(unclosed"])
            #expect(badRegex.status == 64 && badRegex.stderr.contains("--filter-id"))
            // A report of another golden set: its cases are not this set's.
            let other = try await runCLI(["eval", "--golden", dir + "/other.jsonl", "--prompt", qaPrompt, "--endpoint", "weak", "--config", dir + "/endpoints.yaml",
                                          "--quiet", "--cache-path", dir + "/o.sqlite", "--report", dir + "/other.json"])
            #expect(other.status == 0 || other.status == 1)
            let sent = sim.currentStats.requests
            let foreign = try await runCLI(common + ["--endpoint", "weak", "--filter-failing", dir + "/other.json"])
            #expect(foreign.status == 64)
            #expect(foreign.stderr.contains("--filter-failing") && foreign.stderr.contains("another golden set"), "\(foreign.stderr)")
            let gate = dir + "/flaky-gate.yaml"
            FileManager.default.createFile(atPath: gate, contents: Data("max_flaky_rate: 0.1\n".utf8))
            let noRepeats = try await runCLI(common + ["--endpoint", "weak", "--gate", gate])
            #expect(noRepeats.status == 64 && noRepeats.stderr.contains("max_flaky_rate"))
            #expect(sim.currentStats.requests == sent)
        }
    }

    @Test func twoPromptsByThreeEndpointsIsOneCommandOneReportAndSixRunsWorth() async throws {
        try await withSimulator(Self.profile) { sim, port in
            let dir = scratchDir([
                "endpoints.yaml": Self.endpoints(port: port),
                "terse.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\nparams: {temperature: 0, max_tokens: 128, seed: 7}\n",
            ])
            let distinct = distinctQuestions(qaGolden)
            let base = ["eval", "--golden", qaGolden, "--config", dir + "/endpoints.yaml", "--gate", qaGate, "--quiet"]
            let matrix = try await runCLI(base + ["--prompt", qaPrompt, "--prompt", dir + "/terse.yaml", "--endpoint", "weak", "--endpoint", "mid", "--endpoint", "strong",
                                                  "--report", dir + "/matrix.json", "--junit", dir + "/matrix.xml", "--cache-path", dir + "/m.sqlite"])
            #expect(matrix.status == 1, "\(matrix.stderr)")  // the weak model fails the QA gate
            #expect(sim.currentStats.chat == 6 * distinct)
            #expect(matrix.stdout.contains("prompt@strong") && matrix.stdout.contains("terse@weak"))
            let report = try Self.report(dir + "/matrix.json")
            let targets = try #require(report["targets"]?.arrayValue)
            #expect(targets.count == 6)
            #expect(report["matrix"]?["rows"]?.arrayValue?.count == 6)
            #expect(report["cases"]?.arrayValue?.count == 6 * 250)
            // The same numbers as six separate runs.
            for (p, promptPath) in [("prompt", qaPrompt), ("terse", dir + "/terse.yaml")] {
                for e in ["weak", "mid", "strong"] {
                    let one = try await runCLI(base + ["--prompt", promptPath, "--endpoint", e, "--report", dir + "/\(p)-\(e).json", "--cache-path", dir + "/\(p)-\(e).sqlite"])
                    #expect(one.status == 0 || one.status == 1)
                    let single = try Self.report(dir + "/\(p)-\(e).json")["summary"]!
                    let t = try #require(targets.first { $0["label"]?.stringValue == "\(p)@\(e)" })
                    for key in ["passed", "failed", "errored", "pass_rate", "pass_rate_ci95", "mean_score", "cost_usd", "tokens"] {
                        #expect(t["summary"]?[key] == single[key], "\(p)@\(e) \(key)")
                    }
                    #expect(t["verdict"] == (try Self.report(dir + "/\(p)-\(e).json"))["verdict"])
                }
            }
            let junit = String(decoding: FileManager.default.contents(atPath: dir + "/matrix.xml") ?? Data(), as: UTF8.self)
            #expect(junit.contains("classname=\"evalengine.eval.terse@mid\""))
            #expect(junit.contains("tests=\"1500\""))
        }
    }

    @Test func repeatsAndReRunningWhatFailed() async throws {
        try await withSimulator(Self.profile) { sim, port in
            let dir = scratchDir([
                "endpoints.yaml": Self.endpoints(port: port),
                "hot.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\nparams: {temperature: 1, max_tokens: 128}\n",
            ])
            let base = ["eval", "--golden", qaGolden, "--config", dir + "/endpoints.yaml", "--endpoint", "mid", "--quiet", "--cache-path", dir + "/c.sqlite"]
            let cold = try await runCLI(base + ["--prompt", dir + "/hot.yaml", "--repeat", "3", "--report", dir + "/r3.json", "--junit", dir + "/r3.xml"])
            #expect(cold.status == 1)
            let sentCold = sim.currentStats.chat
            #expect(sentCold == 3 * distinctQuestions(qaGolden))
            let warm = try await runCLI(base + ["--prompt", dir + "/hot.yaml", "--repeat", "3", "--no-resume"])
            #expect(warm.status == 1 && sim.currentStats.chat == sentCold)
            let report = try Self.report(dir + "/r3.json")
            #expect(report["run"]?["repeats"] == 3)
            let flaky = report["summary"]?["repeats"]?["flaky"]?.numberValue ?? -1
            #expect(flaky > 0)
            #expect(report["summary"]?["repeats"]?["pass_at_1"] == report["summary"]?["pass_rate"])
            let junit = String(decoding: FileManager.default.contents(atPath: dir + "/r3.xml") ?? Data(), as: UTF8.self)
            #expect(junit.components(separatedBy: "[flaky: ").count - 1 == Int(flaky))
            #expect(junit.contains("tests=\"250\""))

            // Re-run only what failed: the failing cases and nothing else are sent.
            let first = try await runCLI(base + ["--prompt", qaPrompt, "--report", dir + "/first.json"])
            #expect(first.status == 1)
            let rows = try Self.report(dir + "/first.json")["cases"]?.arrayValue ?? []
            let failing = rows.filter { $0["status"]?.stringValue != "passed" }.compactMap { $0["id"]?.stringValue }
            #expect(!failing.isEmpty)
            let again = try await runCLI(base + ["--prompt", qaPrompt, "--filter-failing", dir + "/first.json", "--report", dir + "/again.json", "--cache-mode", "off"])
            #expect(again.status == 1)
            let rerun = try Self.report(dir + "/again.json")
            #expect(Set(rerun["cases"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []) == Set(failing))
            #expect(rerun["run"]?["filter"]?["failing_ids"]?.arrayValue?.count == failing.count)
            let tagged = try await runCLI(base + ["--prompt", qaPrompt, "--filter-tag", "math", "--filter-id", "^arith-00000", "--report", dir + "/tag.json"])
            #expect(tagged.status == 0 || tagged.status == 1)
            let ids = try Self.report(dir + "/tag.json")["cases"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            #expect(!ids.isEmpty && ids.allSatisfy { $0.hasPrefix("arith-00000") })

            // merge refuses a filtered shard beside an unfiltered one.
            _ = try await runCLI(base + ["--prompt", qaPrompt, "--shard", "1/2", "--report", dir + "/s1.json"])
            _ = try await runCLI(base + ["--prompt", qaPrompt, "--shard", "2/2", "--filter-tag", "math", "--report", dir + "/s2.json"])
            let merged = try await runCLI(["merge", dir + "/s1.json", dir + "/s2.json", "--report", dir + "/merged.json"])
            #expect(merged.status != 0 && merged.stderr.contains("filtered"), "\(merged.stderr)")
        }
    }

    @Test func aShardedMatrixWithRepeatsMergesIntoTheUnshardedRun() async throws {
        try await withSimulator(Self.profile) { _, port in
            let dir = scratchDir(["endpoints.yaml": Self.endpoints(port: port)])
            let base = ["eval", "--golden", qaGolden, "--prompt", qaPrompt, "--config", dir + "/endpoints.yaml", "--endpoint", "weak", "--endpoint", "strong",
                        "--repeat", "2", "--gate", qaGate, "--quiet", "--cache-path", dir + "/c.sqlite"]
            let whole = try await runCLI(base + ["--report", dir + "/whole.json"])
            #expect(whole.status == 1, "\(whole.stderr)")
            for i in 1...3 { _ = try await runCLI(base + ["--shard", "\(i)/3", "--shard-budget", "full", "--report", dir + "/s\(i).json"]) }
            let merged = try await runCLI(["merge", dir + "/s1.json", dir + "/s2.json", dir + "/s3.json", "--report", dir + "/merged.json"])
            #expect(merged.status == 1, "\(merged.stderr)")
            let a = try Self.report(dir + "/whole.json"), b = try Self.report(dir + "/merged.json")
            #expect(a["verdict"] == b["verdict"])
            for key in ["passed", "failed", "errored", "pass_rate", "pass_rate_ci95", "mean_score", "repeats"] {
                #expect(a["summary"]?[key] == b["summary"]?[key], "\(key)")
            }
            let ta = a["targets"]?.arrayValue ?? [], tb = b["targets"]?.arrayValue ?? []
            #expect(ta.count == 2 && tb.count == 2)
            for (x, y) in zip(ta, tb) {
                #expect(x["label"] == y["label"] && x["verdict"] == y["verdict"])
                for key in ["passed", "failed", "pass_rate", "pass_rate_ci95", "repeats"] { #expect(x["summary"]?[key] == y["summary"]?[key], "\(key)") }
            }
        }
    }
}
