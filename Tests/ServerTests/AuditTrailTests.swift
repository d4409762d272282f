import EvalCore
import Foundation
import NIOHTTP1
import SimulatedModel
import Testing
import TestSupport
@testable import Server
import Spawn

/// The audit trail (who asked, for which artifact and revision, inputs' digests, verdict, report
/// digest, times) and retention (old jobs, reports, runs and caches go; audit lines stay longer).
@Suite(.serialized) struct AuditTrailTests {
    func setUp(simPort: Int, serviceExtra: String) -> String {
        scratchDir([
            "data/g.jsonl": arithmeticGoldenSet(12),
            "data/prompt.yaml": promptYAML,
            "tokens": "# name:token, or a bare token\nargo-ci:tok-one-secret\ntok-two-secret\n",
            "endpoints.yaml": "endpoints:\n  - {name: sim, base_url: \"http://127.0.0.1:\(simPort)\", model: sim-small, max_in_flight: 8}\n",
            "service.yaml": "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\nreports_dir: state/reports\ndrain_grace_seconds: 1\n" + serviceExtra,
        ])
    }

    func body(revision: String) -> String {
        #"{"golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim","thresholds":{"min_pass_rate":0.5},"#
            + #""metadata":{"artifact":"prompts/qa","artifact_type":"prompt","revision":"\#(revision)"}}"#
    }

    @Test func everyAskerOfAJobIsRecordedByTokenNameWithDigestsAndVerdict() async throws {
        try await withSimulator { _, simPort in
            let dir = setUp(simPort: simPort, serviceExtra: "auth: {tokens_file: tokens}\n")
            let server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
            let one = [("Authorization", "Bearer tok-one-secret"), ("Idempotency-Key", "wf-1")]
            let first = try await http(.POST, server.base + "/v1/eval?wait=60", body: body(revision: "abc123"), headers: one)
            #expect(first.status == 200 && first.json["verdict"]?.stringValue == "pass", "\(first.body)")
            let jobID = first.json["job_id"]?.stringValue ?? ""
            // An Argo retry (same key, same body) re-attaches and adds no line.
            let retry = try await http(.POST, server.base + "/v1/eval?wait=60", body: body(revision: "abc123"), headers: one)
            #expect(retry.json["job_id"]?.stringValue == jobID && retry.json["reused"]?.boolValue == true)
            // Another revision with identical inputs is the same work (metadata is outside the
            // digest), asked for by another caller: a second line for the same job.
            let two = [("Authorization", "Bearer tok-two-secret"), ("Idempotency-Key", "wf-1")]
            let other = try await http(.POST, server.base + "/v1/eval?wait=60", body: body(revision: "def456"), headers: two)
            #expect(other.json["job_id"]?.stringValue == jobID && other.json["request_digest"] == first.json["request_digest"], "\(other.body)")

            let auth = [("Authorization", "Bearer tok-one-secret")]
            let page = try await http(.GET, server.base + "/v1/audit?artifact=prompts/qa", headers: auth)
            #expect(page.status == 200, "\(page.body)")
            let entries = page.json["entries"]?.arrayValue ?? []
            #expect(entries.count == 2, "\(page.body)")
            #expect(entries.map { $0["caller"]?.stringValue ?? "" } == ["argo-ci", "tokens_file:3"], "\(page.body)")
            #expect(entries.map { $0["revision"]?.stringValue ?? "" } == ["abc123", "def456"])
            #expect(!page.body.contains("tok-one-secret") && !page.body.contains("tok-two-secret"))
            let report = try await http(.GET, server.base + "/v1/jobs/\(jobID)/report", headers: auth)
            let reportDigest = "sha256:" + SHA256Digest.hex(Array(report.body.utf8))
            let goldenDigest = "sha256:" + (SHA256Stream.fileHex(dir + "/data/g.jsonl") ?? "")
            for e in entries {
                #expect(e["job_id"]?.stringValue == jobID && e["verdict"]?.stringValue == "pass" && e["state"]?.stringValue == "completed")
                #expect(e["report_digest"]?.stringValue == reportDigest, "\(e)")
                #expect(e["inputs"]?["golden_set"]?.stringValue == goldenDigest && e["inputs"]?["prompt"]?.stringValue?.hasPrefix("sha256:") == true)
                #expect(e["artifact_type"]?.stringValue == "prompt" && e["request_digest"] == first.json["request_digest"])
                #expect(e["submitted_at"]?.stringValue != nil && e["finished_at"]?.stringValue != nil)
            }
            // Filters: another artifact, a time in the future, paging; bad values are 400.
            #expect(try await http(.GET, server.base + "/v1/audit?artifact=prompts/other", headers: auth).json["entries"]?.arrayValue?.count == 0)
            #expect(try await http(.GET, server.base + "/v1/audit?since=2999-01-01T00:00:00Z", headers: auth).json["entries"]?.arrayValue?.count == 0)
            #expect(try await http(.GET, server.base + "/v1/audit?since=1h", headers: auth).json["entries"]?.arrayValue?.count == 2)
            let firstPage = try await http(.GET, server.base + "/v1/audit?limit=1", headers: auth).json
            let cursor = Int(firstPage["next_after"]?.numberValue ?? -1)
            #expect(firstPage["entries"]?.arrayValue?.count == 1 && cursor > 0)
            let secondPage = try await http(.GET, server.base + "/v1/audit?limit=1&after=\(cursor)", headers: auth).json
            #expect(secondPage["entries"]?.arrayValue?.first?["revision"]?.stringValue == "def456")
            for bad in ["since=yesterday", "limit=0", "limit=100000", "after=-3"] {
                let r = try await http(.GET, server.base + "/v1/audit?" + bad, headers: auth)
                #expect(r.status == 400 && r.json["error"]?["field"] != nil, "\(bad): \(r.body)")
            }
            #expect(try await http(.GET, server.base + "/v1/audit").status == 401)
            // The web view is protected like the API, and shows the job.
            #expect(try await http(.GET, server.base + "/ui").status == 401)
            let ui = try await http(.GET, server.base + "/ui/jobs/\(jobID)", headers: auth)
            #expect(ui.status == 200 && ui.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true && ui.body.contains("PASS"), "\(ui.body.prefix(300))")
            #expect(ui.headers.first(name: "Content-Security-Policy")?.contains("default-src 'none'") == true)
            // Metadata is checked like every field.
            let badMeta = body(revision: "abc").replacingOccurrences(of: "\"revision\"", with: "\"revison\"")
            let refused = try await http(.POST, server.base + "/v1/eval", body: badMeta, headers: auth)
            #expect(refused.status == 400 && refused.json["error"]?["field"]?.stringValue == "metadata.revison", "\(refused.body)")
            server.kill9()

            // The CLI exports the same lines as JSON Lines, from the store.
            let out = dir + "/audit.jsonl"
            let p = try ChildProcess(executable: cliPath, arguments: ["audit", "export", "--store", dir + "/state/service.sqlite", "--artifact", "prompts/qa", "--out", out],
                                     stderr: .null)
            p.waitUntilExit()
            let lines = (try? String(contentsOfFile: out, encoding: .utf8))?.split(separator: "\n") ?? []
            #expect(p.terminationStatus == 0 && lines.count == 2)
            #expect(lines.compactMap { try? JSONValue.parse(String($0)) }.allSatisfy { $0["report_digest"]?.stringValue == reportDigest })
        }
    }

    @Test func retentionRemovesOldJobsReportsAndCachesButKeepsAuditLinesLonger() async throws {
        try await withSimulator { _, simPort in
            let dir = setUp(simPort: simPort, serviceExtra: "retention: {jobs: 3s, cache: 3s, audit: 20s, sweep_every: 1s}\n")
            let server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
            var ids: [String] = []
            for i in 0..<3 {
                let r = try await http(.POST, server.base + "/v1/eval?wait=60", body: body(revision: "r\(i)"), headers: [("Idempotency-Key", "k\(i)")])
                #expect(r.json["state"]?.stringValue == "completed", "\(r.body)")
                let id = r.json["job_id"]?.stringValue ?? ""
                ids.append(id)
                // Just completed: well inside its 3 s, its report is there.
                #expect(FileManager.default.fileExists(atPath: dir + "/state/reports/\(id).json"))
            }
            // The jobs go within a few sweeps of their retention period...
            var gone = false
            for _ in 0..<150 where !gone {
                try await Task.sleep(for: .milliseconds(200))
                var all = true
                for id in ids {
                    let status = try await http(.GET, server.base + "/v1/jobs/\(id)").status
                    all = all && status == 404
                }
                gone = all
            }
            #expect(gone, "jobs still there after 30 s: \(server.stderr.suffix(800))")
            #expect(!FileManager.default.fileExists(atPath: dir + "/state/reports/\(ids[0]).json"))
            let inputs = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/state/inputs")) ?? []
            #expect(inputs.isEmpty, "\(inputs)")
            // ...while their audit lines stay, all three, for their own longer period.
            let audit = try await http(.GET, server.base + "/v1/audit").json["entries"]?.arrayValue ?? []
            #expect(Set(audit.compactMap { $0["job_id"]?.stringValue }) == Set(ids), "\(audit)")
            let metrics = try await http(.GET, server.base + "/metrics").body
            #expect(metrics.contains("evalengine_retention_removed_total{kind=\"jobs\"} 3"), "\(metrics.split(separator: "\n").filter { $0.contains("retention") })")
            #expect(metrics.contains("evalengine_store_bytes"))
            var auditGone = false
            for _ in 0..<200 where !auditGone {
                try await Task.sleep(for: .milliseconds(200))
                auditGone = try await http(.GET, server.base + "/v1/audit").json["entries"]?.arrayValue?.isEmpty == true
            }
            #expect(auditGone)
            server.kill9()
            // Caches and runs went too: nothing is left but the empty tables.
            let stats = try ChildProcess(executable: cliPath, arguments: ["cache", "stats", "--cache-path", dir + "/state/service.sqlite"], stdout: .file(dir + "/stats.txt"))
            stats.waitUntilExit()
            let text = (try? String(contentsOfFile: dir + "/stats.txt", encoding: .utf8)) ?? ""
            #expect(text.contains("responses 0 ") && text.contains("runs 0 ") && text.contains("case results 0"), "\(text)")
        }
    }

    @Test func retentionSettingsAreRangeChecked() throws {
        for (yaml, field) in [("retention: {jobs: 0s}", "retention.jobs"), ("retention: {jobs: 30d, audit: 1d}", "retention.audit"),
                              ("retention: {cache: forever}", "retention.cache"), ("retention: {job: 1d}", "retention.job"),
                              ("retention: {sweep_every: 1e300}", "retention.sweep_every")] {
            let dir = scratchDir(["e.yaml": "endpoints:\n  - {name: sim, base_url: \"http://127.0.0.1:1\", model: m}\n"])
            FileManager.default.createFile(atPath: dir + "/s.yaml", contents: Data("endpoints: \(dir)/e.yaml\n\(yaml)\n".utf8))
            do {
                _ = try ServiceConfig.load(path: dir + "/s.yaml")
                Issue.record("\(yaml) was accepted")
            } catch {
                #expect(error.field == field, "\(yaml): \(error)")
            }
        }
        // Named tokens: NAME:TOKEN or NAME TOKEN; a bare token is named by where it was given.
        #expect(ServiceConfig.namedToken("argo:abc", fallback: "f") == ("argo", "abc"))
        #expect(ServiceConfig.namedToken("ci   x=y==", fallback: "f") == ("ci", "x=y=="))
        #expect(ServiceConfig.namedToken("bare-token==", fallback: "tokens_file:2") == ("tokens_file:2", "bare-token=="))
    }
}
