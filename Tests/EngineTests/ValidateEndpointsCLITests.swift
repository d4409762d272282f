import EvalCore
import Foundation
import TestSupport
import Testing

/// `validate --check-endpoints` against simulated endpoints: a model the endpoint does not list,
/// a case over the context window, stale or missing pricing — each named where a person fixes it.
@Suite(.serialized) struct ValidateEndpointsCLITests {
    @Test func endpointsAreAskedAndProblemsNamed() async throws {
        let dir = scratchDir([
            "p.yaml": "accuracy: 0.9\n",
            "endpoints.yaml": """
                endpoints:
                  - name: sim
                    model: sim-small
                    simulated: {profile: PROFILE}
                    context_window: 4096
                    pricing: {input_per_million: 0.15, output_per_million: 0.60, as_of: "TODAY"}
                  - name: ghost
                    model: sim-ghost
                    simulated: {profile: PROFILE}
                    pricing: {input_per_million: 0.15, output_per_million: 0.60, as_of: "2025-01-01"}
                  - name: small
                    model: sim-small
                    simulated: {profile: PROFILE}
                    context_window: 64
                    pricing: {input_per_million: 0.15, output_per_million: 0.60, as_of: "TODAY"}
                  - name: unpriced
                    model: sim-small
                    simulated: {profile: PROFILE}

                """,
        ])
        let today = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate, .withDashSeparatorInDate])
        let text = try String(contentsOfFile: dir + "/endpoints.yaml", encoding: .utf8).replacingOccurrences(of: "PROFILE", with: dir + "/p.yaml").replacingOccurrences(of: "TODAY", with: today)
        try text.write(toFile: dir + "/endpoints.yaml", atomically: true, encoding: .utf8)
        let base = ["validate", "--golden", qaGolden, "--prompt", qaPrompt, "--check-endpoints", "--config", dir + "/endpoints.yaml"]
        let ok = try await runCLI(base + ["--endpoint", "sim"])
        #expect(ok.status == 0 && ok.stdout.contains("model 'sim-small' listed") && ok.stdout.contains("of 4096 tokens"), "\(ok.stdout)\(ok.stderr)")
        let ghost = try await runCLI(base + ["--endpoint", "ghost"])
        #expect(ghost.status == 78 && ghost.stderr.contains("endpoints.yaml:8: endpoint 'ghost': model 'sim-ghost' is not listed by GET /v1/models"), "\(ghost.stderr)")
        #expect(ghost.stderr.contains("endpoints.yaml:10: endpoint 'ghost': pricing as of 2025-01-01"), "\(ghost.stderr)")
        // The longest case over a 64-token window, counted exactly by the server's /tokenize.
        let small = try await runCLI(base + ["--endpoint", "small"])
        #expect(small.status == 65 && small.stderr.contains("cases.jsonl:") && small.stderr.contains("case '") && small.stderr.contains("counted by /tokenize")
                && small.stderr.contains("context window of 64"), "\(small.stderr)")
        // Missing pricing: the configured outcome.
        let unpriced = try await runCLI(base + ["--endpoint", "unpriced"])
        #expect(unpriced.status == 78 && unpriced.stderr.contains("no pricing"), "\(unpriced.stderr)")
        let warned = try await runCLI(base + ["--endpoint", "unpriced", "--stale-pricing", "warn"])
        #expect(warned.status == 0 && warned.stdout.contains("warning:") && warned.stdout.contains("no pricing"), "\(warned.stdout)")
        // A RAG config whose embedding dimension is not the endpoint's: named before any corpus is embedded.
        let rag = try String(contentsOfFile: repoRoot + "/golden-sets/rag/baseline.yaml", encoding: .utf8)
        try rag.replacingOccurrences(of: "model: sim-embed}", with: "model: sim-embed, dimensions: 768}").write(toFile: dir + "/rag-bad.yaml", atomically: true, encoding: .utf8)
        try rag.replacingOccurrences(of: "model: sim-embed}", with: "model: sim-embed, dimensions: 256}").write(toFile: dir + "/rag-ok.yaml", atomically: true, encoding: .utf8)
        let dims = try await runCLI(base + ["--endpoint", "sim", "--rag-config", dir + "/rag-bad.yaml"])
        #expect(dims.status == 78 && dims.stderr.contains("rag-bad.yaml:4: RAG config") && dims.stderr.contains("embedding.dimensions is 768, but endpoint 'sim' answers 256"), "\(dims.stderr)")
        let dimsOK = try await runCLI(base + ["--endpoint", "sim", "--rag-config", dir + "/rag-ok.yaml"])
        #expect(dimsOK.status == 0 && dimsOK.stdout.contains("256-dimensional vectors, as configured"), "\(dimsOK.stdout)\(dimsOK.stderr)")
        // index-test refuses the same mismatch after one probe, before the corpus is embedded.
        let rg = repoRoot + "/golden-sets/rag"
        let indexTest = try await runCLI(["index-test", "--corpus", rg + "/corpus.jsonl", "--queries", rg + "/queries.jsonl", "--qrels", rg + "/qrels.txt",
                                          "--baseline", dir + "/rag-bad.yaml", "--candidate", dir + "/rag-ok.yaml", "--config", dir + "/endpoints.yaml",
                                          "--cache-path", dir + "/c.sqlite"])
        #expect(indexTest.status != 0 && indexTest.stderr.contains("embedding.dimensions is 768") && indexTest.stderr.contains("nothing of the corpus was embedded"), "\(indexTest.stderr)")
        // Offline, validate still asks nobody.
        let offline = try await runCLI(["validate", "--golden", qaGolden, "--prompt", qaPrompt])
        #expect(offline.status == 0 && offline.stdout.contains("valid"))
    }
}

/// `lint`: every file read as what it is, every problem printed with file, line and field.
@Suite(.serialized) struct LintCLITests {
    @Test func everyFileIsCheckedAndEveryProblemNamed() async throws {
        let dir = scratchDir([
            "bad.jsonl": #"{"id":"a","assert":[{"type":"equalz"}]}"# + "\n",
            "bad-endpoints.yaml": "endpoints:\n  - {name: x, model: m, base_url: ftp://host}\n",
            "bad-gate.yaml": "min_pass_rate: 2\n",
        ])
        let good = try await runCLI(["lint", "--golden", qaGolden, "--prompt", qaPrompt, "--endpoints", repoRoot + "/configs/endpoints.yaml",
                                     "--gate", repoRoot + "/configs/gates/qa.yaml", "--rag-config", repoRoot + "/golden-sets/rag/baseline.yaml"])
        #expect(good.status == 0 && good.stdout.contains("250 cases, valid") && good.stdout.contains("RAG config 'baseline-recursive-600', valid"), "\(good.stdout)\(good.stderr)")
        let bad = try await runCLI(["lint", "--golden", dir + "/bad.jsonl", "--endpoints", dir + "/bad-endpoints.yaml", "--gate", dir + "/bad-gate.yaml"])
        #expect(bad.status == 65 && bad.stderr.contains("bad.jsonl:1: case 'a': field 'assert[0].type'") && bad.stderr.contains("bad-endpoints.yaml:2")
                && bad.stderr.contains("bad-gate.yaml:1") && bad.stderr.contains("3 of 3 files have problems"), "\(bad.stderr)")
        let none = try await runCLI(["lint"])
        #expect(none.status == 64)
    }
}
