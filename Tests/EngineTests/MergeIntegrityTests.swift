import EvalCore
import Foundation
import Testing
@testable import Engine

/// Issue 15 item 10: `merge` refuses shard reports whose rows or gate were edited, and with a
/// key in the environment it takes only reports signed with it.
@Suite(.serialized) struct MergeIntegrityTests {
    func files() -> String {
        let dir = scratchDir([
            "g.jsonl": arithmeticGoldenSet(200),
            "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\nparams: {temperature: 0}\n",
            "weak.yaml": "accuracy: 0.5\n",
            "gate.yaml": "min_pass_rate: 0.9\n",
        ])
        let endpoints = "endpoints:\n  - {name: sim, model: sim-small, simulated: {profile: \(dir)/weak.yaml}, max_in_flight: 64}\n"
        FileManager.default.createFile(atPath: dir + "/endpoints.yaml", contents: Data(endpoints.utf8))
        return dir
    }

    func shard(_ dir: String, _ i: Int, key: String? = nil) async throws {
        let r = try await runCLI(["eval", "--golden", dir + "/g.jsonl", "--prompt", dir + "/prompt.yaml", "--endpoint", "sim", "--config", dir + "/endpoints.yaml",
                                  "--gate", dir + "/gate.yaml", "--quiet", "--cache-path", dir + "/cache.sqlite", "--shard", "\(i)/2", "--report", dir + "/s\(i).json"],
                                 environment: ["EVALENGINE_REPORT_KEY": key])
        #expect(r.status == 1, "\(r.stderr)")  // a weak model: the gate fails
    }

    func merge(_ dir: String, key: String? = nil) async throws -> CLIResult {
        return try await runCLI(["merge", dir + "/s1.json", dir + "/s2.json", "--report", dir + "/m.json"], environment: ["EVALENGINE_REPORT_KEY": key])
    }

    func edit(_ path: String, _ change: (inout String) -> Void) throws {
        var text = try String(contentsOfFile: path, encoding: .utf8)
        change(&text)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func editedRowsOrGatesAreRefused() async throws {
        let dir = files()
        try await shard(dir, 1)
        try await shard(dir, 2)
        #expect(try await merge(dir).status == 1)
        // Flip failed rows to passed: FAIL would read PASS.
        try edit(dir + "/s1.json") { $0 = $0.replacingOccurrences(of: #""pass":false"#, with: #""pass":true"#).replacingOccurrences(of: #""status":"failed""#, with: #""status":"passed""#) }
        let flipped = try await merge(dir)
        #expect(flipped.status == 65)
        #expect(flipped.stderr.contains("s1.json: its case rows or gate were changed after it was written"), "\(flipped.stderr)")
        // Loosen the gate in both shards.
        try await shard(dir, 1)
        try edit(dir + "/s1.json") { $0 = $0.replacingOccurrences(of: #""min_pass_rate":0.9"#, with: #""min_pass_rate":0.1"#) }
        try edit(dir + "/s2.json") { $0 = $0.replacingOccurrences(of: #""min_pass_rate":0.9"#, with: #""min_pass_rate":0.1"#) }
        #expect(try await merge(dir).status == 65)
    }

    @Test func aForgerWhoRecomputesTheDigestIsStillCaughtByTheAssertionResults() async throws {
        let dir = files()
        try await shard(dir, 1)
        try await shard(dir, 2)
        // Flip failed rows to passed and reseal the report as `merge` would check it (no key).
        guard case .object(var report) = try JSONValue.parse(String(contentsOfFile: dir + "/s1.json", encoding: .utf8)),
              case .array(var rows)? = report["cases"] else { Issue.record("unreadable report"); return }
        for i in rows.indices where rows[i]["status"]?.stringValue == "failed" {
            guard case .object(var row) = rows[i] else { continue }
            row["status"] = "passed"
            row["pass"] = true
            rows[i] = .object(row)
        }
        report["cases"] = .array(rows)
        report["integrity"] = nil
        var header = report
        header["cases"] = nil
        let digest = SHA256Stream()
        for row in rows { digest.update(row.canonicalBytes) }
        report["integrity"] = ReportIntegrity.seal(header: .object(header), rowsSHA256: digest.finalHex(), key: nil)
        try JSONValue.object(report).serialized(sortedKeys: true).write(toFile: dir + "/s1.json", atomically: true, encoding: .utf8)
        let merged = try await merge(dir)
        #expect(merged.status == 65)
        #expect(merged.stderr.contains("is recorded passed, but its assertion results say failed"), "\(merged.stderr)")
    }

    @Test func withAKeyOnlySignedReportsMerge() async throws {
        let dir = files()
        try await shard(dir, 1, key: "pipeline-secret")
        try await shard(dir, 2, key: "pipeline-secret")
        #expect(try await merge(dir, key: "pipeline-secret").status == 1)
        let wrong = try await merge(dir, key: "another-key")
        #expect(wrong.status == 65 && wrong.stderr.contains("signature"), "\(wrong.stderr)")
        let none = try await merge(dir)
        #expect(none.status == 65 && none.stderr.contains("EVALENGINE_REPORT_KEY"), "\(none.stderr)")
        // Unsigned shards are refused where the pipeline provides a key.
        try await shard(dir, 1)
        #expect(try await merge(dir, key: "pipeline-secret").status == 65)
        let report = try JSONValue.parse(String(contentsOfFile: dir + "/s2.json", encoding: .utf8))
        #expect(report["integrity"]?["algorithm"]?.stringValue == "hmac-sha256")
        #expect(!(try String(contentsOfFile: dir + "/s2.json", encoding: .utf8)).contains("pipeline-secret"))
    }
}
