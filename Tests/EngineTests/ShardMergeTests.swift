import EvalCore
import Foundation
import Testing

/// `--shard i/N` and `evalengine merge`, end to end with the real binary.
@Suite(.serialized) struct ShardMergeTests {
    func files(_ n: Int) -> String {
        let dir = scratchDir([
            "g.jsonl": arithmeticGoldenSet(n),
            "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\nparams: {temperature: 0}\n",
            "fast.yaml": "accuracy: 0.93\n",
            "gate.yaml": "min_pass_rate: 0.9\nmin_metrics: {}\n",
        ])
        // Profile paths in an endpoints file are relative to the working directory: give it whole.
        let endpoints = "endpoints:\n  - {name: sim, model: sim-small, simulated: {profile: \(dir)/fast.yaml}, max_in_flight: 256, pricing: {input_per_million: 0.15, output_per_million: 0.6}}\n"
        FileManager.default.createFile(atPath: dir + "/endpoints.yaml", contents: Data(endpoints.utf8))
        return dir
    }

    func report(_ path: String) throws -> JSONValue {
        try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self))
    }

    @Test func shardsAreDisjointCoverTheSetAndStayPut() {
        let ids = (0..<10_000).map { "case-\($0)" }
        var sizes = [Int](repeating: 0, count: 5)
        for id in ids { sizes[Shard.of(id, count: 4)] += 1 }
        #expect(sizes[0] == 0 && sizes[1...].reduce(0, +) == 10_000)
        #expect(sizes[1...].allSatisfy { $0 > 2300 && $0 < 2700 })  // roughly even
        #expect(Shard.of("case-42", count: 4) == Shard.of("case-42", count: 4))
        #expect(throws: Never.self) { try Shard.parse("2/4").get() }
        for bad in ["5/4", "0/4", "2/0", "a/4", "2", "2/4/1"] {
            #expect((try? Shard.parse(bad).get()) == nil, "\(bad) accepted")
        }
    }

    @Test func tenThousandCasesInFourShardsMergeIntoTheSingleRunsReport() async throws {
        let dir = files(10_000)
        let common = ["eval", "--golden", dir + "/g.jsonl", "--prompt", dir + "/prompt.yaml", "--endpoint", "sim", "--config", dir + "/endpoints.yaml",
                      "--gate", dir + "/gate.yaml", "--quiet", "--cache-path", dir + "/cache.sqlite"]
        // The single run answers from the endpoint; the shards from the cache it filled, so both
        // see the same answers and any difference would be the merge's. Latency is the exception:
        // only answers measured live count, so the merged cached shards report none.
        let single = try await runCLI(common + ["--report", dir + "/single.json"], timeout: 300)
        #expect(single.status == 0, "\(single.stderr)")
        for i in 1...4 {
            let r = try await runCLI(common + ["--shard", "\(i)/4", "--report", dir + "/shard\(i).json"], timeout: 300)
            #expect(r.status == 0 || r.status == 1, "\(r.stderr)")
        }
        let merged = try await runCLI(["merge", dir + "/shard3.json", dir + "/shard1.json", dir + "/shard4.json", dir + "/shard2.json", "--report", dir + "/merged.json"])
        #expect(merged.status == single.status, "\(merged.stderr)")

        let a = try report(dir + "/single.json"), b = try report(dir + "/merged.json")
        #expect(a["verdict"] == b["verdict"] && a["reasons"] == b["reasons"] && a["checks"] == b["checks"])
        let runSpecific: Set<String> = ["duration_seconds", "cases_per_second", "cache_hits", "resumed_cases", "latency_ms"]
        let sa = try #require(a["summary"]?.objectValue), sb = try #require(b["summary"]?.objectValue)
        #expect(Set(sa.keys).subtracting(["latency_ms"]) == Set(sb.keys))
        #expect(sa["latency_ms"]?["count"]?.numberValue == 10_000 && sb["latency_ms"] == nil)
        for key in sa.keys.sorted() where !runSpecific.contains(key) {
            #expect(sa[key] == sb[key], "summary.\(key): single \(sa[key]!.serialized()) merged \(sb[key]?.serialized() ?? "missing")")
        }
        #expect(sa["total"]?.numberValue == 10_000)
        // Case rows: the same, apart from whether they came from the cache.
        func rows(_ r: JSONValue) -> [String] {
            (r["cases"]?.arrayValue ?? []).map { c in
                var o = c.objectValue ?? [:]
                o["cached"] = nil
                o["attempts"] = nil
                return JSONValue.object(o).serialized(sortedKeys: true)
            }.sorted()
        }
        #expect(rows(a) == rows(b))
        #expect(b["run"]?["set_digest"] == a["run"]?["set_digest"])
    }

    @Test func reportsThatAreNotOneRunAreRefused() async throws {
        let dir = files(300)
        let other = files(200)
        func shard(_ d: String, _ i: Int, _ out: String) async throws -> CLIResult {
            try await runCLI(["eval", "--golden", d + "/g.jsonl", "--prompt", d + "/prompt.yaml", "--endpoint", "sim", "--config", d + "/endpoints.yaml",
                              "--gate", d + "/gate.yaml", "--quiet", "--cache-path", d + "/cache.sqlite", "--shard", "\(i)/2", "--report", out])
        }
        _ = try await shard(dir, 1, dir + "/a1.json")
        _ = try await shard(dir, 2, dir + "/a2.json")
        _ = try await shard(other, 2, dir + "/b2.json")
        let mixed = try await runCLI(["merge", dir + "/a1.json", dir + "/b2.json", "--report", dir + "/m.json"])
        #expect(mixed.status == 65 && mixed.stderr.contains("different golden sets, prompts or endpoints"), "\(mixed.stderr)")
        let missing = try await runCLI(["merge", dir + "/a1.json", "--report", dir + "/m.json"])
        #expect(missing.status == 65 && missing.stderr.contains("shards 2/2 are missing"), "\(missing.stderr)")
        let twice = try await runCLI(["merge", dir + "/a1.json", dir + "/a1.json", dir + "/a2.json", "--report", dir + "/m.json"])
        #expect(twice.status == 65 && twice.stderr.contains("are both shard 1/2"), "\(twice.stderr)")
        let bad = try await runCLI(["eval", "--golden", dir + "/g.jsonl", "--prompt", dir + "/prompt.yaml", "--endpoint", "sim", "--config", dir + "/endpoints.yaml", "--shard", "5/4"])
        #expect(bad.status == 64 && bad.stderr.contains("shard 5 of 4 does not exist"), "\(bad.stderr)")
        let ok = try await runCLI(["merge", dir + "/a2.json", dir + "/a1.json", "--report", dir + "/m.json"])
        #expect(ok.status == 0 || ok.status == 1, "\(ok.stderr)")
        #expect(try report(dir + "/m.json")["summary"]?["total"]?.numberValue == 300)
    }
}
