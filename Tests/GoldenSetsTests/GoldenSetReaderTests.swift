import EvalCore
import Foundation
import Testing
@testable import GoldenSets

/// Writes `text` to a fresh temp file with `ext` and returns its path.
func tempFile(_ text: String, ext: String) -> String {
    let path = NSTemporaryDirectory() + "evalengine-test-\(UUID().uuidString).\(ext)"
    FileManager.default.createFile(atPath: path, contents: text.data(using: .utf8))
    return path
}

@Suite struct GoldenSetReaderTests {
    @Test func jsonlStreamsCasesWithLinesAndStableGeneratedIDs() throws {
        let path = tempFile("""
            {"id": "a", "vars": {"q": "1"}, "assert": [{"type": "equals", "value": "x"}]}

            {"vars": {"q": "2"}, "expected": "y", "tags": ["t"]}
            {"vars": {"q": "2"}, "expected": "y", "tags": ["t"]}
            """, ext: "jsonl")
        let cases = try GoldenSetReader(path: path).readAll()
        #expect(cases.map(\.location.line) == [1, 3, 4])
        #expect(cases[0].id == "a")
        #expect(cases[1].id.hasPrefix("c-") && cases[1].id.count == 18)
        #expect(cases[2].id == cases[1].id + "-2")  // identical cases stay apart
        #expect(cases[1].assertions == [AssertionSpec(type: .equals, value: "y")])  // bare expected means equals
        let again = try GoldenSetReader(path: path).readAll()
        #expect(again.map(\.id) == cases.map(\.id))
    }

    @Test func malformedLineIsReportedWithFileAndLine() throws {
        let path = tempFile("{\"id\": \"a\", \"vars\": {}}\n{\"id\": \"b\", \"vars\": {\n", ext: "jsonl")
        let reader = try GoldenSetReader(path: path)
        _ = try reader.next()
        do {
            _ = try reader.next()
            Issue.record("expected an error")
        } catch {
            #expect(error.location == SourceLocation(file: path, line: 2))
            #expect(error.description.hasPrefix("\(path):2: malformed JSON"))
        }
    }

    @Test func unknownAssertionTypeNamesLineCaseAndField() throws {
        let path = tempFile("{\"id\": \"a\"}\n{\"id\": \"q7\", \"assert\": [{\"type\": \"contains\", \"value\": \"x\"}, {\"type\": \"equalz\"}]}\n", ext: "jsonl")
        let reader = try GoldenSetReader(path: path)
        _ = try reader.next()
        #expect(throws: InputError.self) { try reader.next() }
        do { _ = try GoldenSetReader(path: path).readAll() } catch {
            #expect(error.location.line == 2)
            #expect(error.caseID == "q7")
            #expect(error.field == "assert[1].type")
            #expect(error.message.contains("unknown assertion type 'equalz'"))
        }
    }

    @Test func duplicateExplicitIDsAreRejected() {
        let path = tempFile("{\"id\": \"a\"}\n{\"id\": \"a\"}\n", ext: "jsonl")
        do { _ = try GoldenSetReader(path: path).readAll(); Issue.record("expected an error") } catch {
            #expect(error.location.line == 2 && error.message.contains("first used at line 1"))
        }
    }

    @Test func yamlDefaultsMergeLikePromptfooDefaultTest() throws {
        let path = tempFile("""
            defaults:
              vars: {lang: en, tone: formal}
              assert:
                - type: not-contains
                  value: error
              threshold: 0.5
              tags: [smoke]
            cases:
              - id: one
                vars: {q: hi, tone: casual}
                assert:
                  - type: contains
                    value: hello
              - id: two
                vars: {q: "yes"}
                threshold: 0.9
                tags: [extra]
            """, ext: "yaml")
        let cases = try GoldenSetReader(path: path).readAll()
        #expect(cases.count == 2)
        #expect(cases[0].vars == ["lang": "en", "tone": "casual", "q": "hi"])
        #expect(cases[0].assertions.map(\.displayType) == ["not-contains", "contains"])
        #expect(cases[0].threshold == 0.5 && cases[1].threshold == 0.9)
        #expect(cases[1].vars["q"] == "yes")  // quoted stays a string
        #expect(cases[1].tags == ["smoke", "extra"])
        #expect(cases[1].location.line == 14)
    }

    @Test func yamlFieldErrorPointsAtTheFieldsLine() {
        let path = tempFile("""
            - id: ok
              vars: {q: 1}
            - id: bad
              vars: {q: 2}
              assert:
                - type: contains
                  value: a
                - type: sounds-like
                  value: b
            """, ext: "yml")
        do { _ = try GoldenSetReader(path: path).readAll(); Issue.record("expected an error") } catch {
            #expect(error.location.line == 8)
            #expect(error.field == "assert[1].type")
            #expect(error.caseID == "bad")
        }
    }

    @Test func csvColumnsAreVarsAndExpectedColumnsAreShorthandAssertions() throws {
        let path = tempFile("""
            question,context,__expected,__expected2,__id,__metadata:source
            "What is 2+2, roughly?","multi
            line",4,"not-contains:five",q1,book
            Capital of France?,,icontains:paris,,,web

            """, ext: "csv")
        let cases = try GoldenSetReader(path: path).readAll()
        #expect(cases.count == 2)
        #expect(cases[0].id == "q1" && cases[0].location.line == 2)
        #expect(cases[0].vars["question"] == "What is 2+2, roughly?")
        #expect(cases[0].vars["context"] == "multi\nline")
        #expect(cases[0].assertions.map(\.displayType) == ["equals", "not-contains"])
        #expect(cases[0].metadata["source"] == "book")
        #expect(cases[1].location.line == 4 && cases[1].id.hasPrefix("c-"))
        #expect(cases[1].assertions == [AssertionSpec(type: .icontains, value: "paris")])
    }

    @Test func csvRowWithWrongFieldCountIsNamed() {
        let path = tempFile("a,b\n1,2\n3\n", ext: "csv")
        do { _ = try GoldenSetReader(path: path).readAll(); Issue.record("expected an error") } catch {
            #expect(error.location.line == 3 && error.message.contains("1 fields"))
        }
    }

    @Test func unknownFormatAndMissingFileAreClearErrors() {
        #expect(throws: InputError.self) { try GoldenSetReader(path: "/nonexistent/cases.jsonl") }
        #expect(throws: InputError.self) { try GoldenSetReader(path: tempFile("x", ext: "txt")) }
    }
}

/// Found by `evalengine fuzz --target yaml-golden`: 52,000 nested flow mappings overflowed the
/// stack inside the recursive YAML composer (SIGSEGV, no error, no line).
@Suite struct HostileYAMLTests {
    func error(_ text: String, ext: String = "yaml") -> InputError? {
        do { _ = try GoldenSetReader(path: tempFile(text, ext: ext)).readAll(); return nil } catch { return error }
    }

    @Test func deepNestingIsRefusedWithALineInsteadOfCrashing() throws {
        for (open, close) in [("{\"a\": ", "}"), ("[", "]")] {
            let text = "cases:\n  - vars: " + String(repeating: open, count: 60_000) + "1" + String(repeating: close, count: 60_000) + "\n"
            let e = try #require(error(text))
            #expect(e.message.contains("nesting deeper than 128") && e.location.line == 2, "\(e)")
        }
        let blocks = "cases:\n" + String(repeating: "- ", count: 50_000) + "x\n"
        #expect(try #require(error(blocks)).message.contains("nesting deeper"))
        var indented = "cases:\n"
        for i in 0..<300 { indented += String(repeating: " ", count: i + 1) + "- k\(i):\n" }
        #expect(try #require(error(indented)).message.contains("nesting deeper"))
    }

    @Test func aliasBombsAndAliasChainsAreRefused() throws {
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<9 { bomb += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        bomb += "cases: []\n"
        #expect(try #require(error(bomb)).message.contains("more than 4000000 nodes"))
        var chain = "a0: &a0 [x]\n"
        for i in 1..<300 { chain += "a\(i): &a\(i) [*a\(i - 1)]\n" }
        chain += "cases: []\n"
        #expect(try #require(error(chain)).message.contains("nesting deeper than 128 levels (through aliases)"))
    }

    @Test func ordinaryDocumentsWithQuotesCommentsAndBlockScalarsStillParse() throws {
        let text = """
            # a comment with [ { brackets
            cases:
              - id: "q[1"   # quoted brackets are not nesting
                vars: {question: 'it''s [not] {nested}', n: [1, [2, [3]]]}
                expected: |
                  line one [
                      indented { more
                assert:
                  - type: icontains
                    value: "don't"
            """
        let cases = try GoldenSetReader(path: tempFile(text, ext: "yaml")).readAll()
        #expect(cases.count == 1 && cases[0].id == "q[1")
    }
}

@Suite struct ConfigFileTests {
    @Test func endpointsDecodeWithDefaultsAndRejectInlineKeys() throws {
        let path = tempFile("""
            endpoints:
              - name: a
                base_url: http://127.0.0.1:8089/
                model: m
                requests_per_minute: 6000
                retry: {max_attempts: 3}
                pricing: {input_per_million: 1, output_per_million: 2}
              - name: b
                base_url: https://example.invalid
                model: m
                api_key: sk-secret
            """, ext: "yaml")
        do { _ = try ConfigFiles.loadEndpoints(path: path); Issue.record("expected an error") } catch {
            #expect(error.location.line == 11)  // the api_key line itself
            #expect(error.field == "endpoints[1].api_key")
            #expect(!error.description.contains("sk-secret"))
        }
        let ok = tempFile("endpoints:\n  - {name: a, base_url: 'http://h:1/', model: m, requests_per_minute: 6000, retry: {max_attempts: 3}}\n", ext: "yaml")
        let e = try ConfigFiles.loadEndpoints(path: ok)[0]
        #expect(e.baseURL == "http://h:1" && e.requestsPerMinute == 6000 && e.retry.maxAttempts == 3 && e.maxInFlight == 64)
    }

    @Test func promptAndGateFilesDecode() throws {
        let prompt = try ConfigFiles.loadPrompt(path: tempFile("""
            messages:
              - {role: system, content: "Be brief."}
              - {role: user, content: "{{q}}"}
            params: {temperature: 0, max_tokens: 64, seed: 1, stop: ["\\n\\n"], response_format: {type: json_object}}
            """, ext: "yaml"))
        #expect(prompt.variableNames == ["q"])
        #expect(prompt.params.maxTokens == 64 && prompt.params.stop == ["\n\n"])
        do { _ = try ConfigFiles.loadPrompt(path: tempFile("messages:\n  - {role: user, content: hi}\nparams: {temprature: 1}\n", ext: "yaml")) } catch {
            #expect(error.field == "params.temprature" && error.location.line == 3)
        }
        let gate = try ConfigFiles.loadGate(path: tempFile("gate:\n  min_pass_rate: 0.9\n  max_error_rate: 0.2\n", ext: "yaml"))
        #expect(gate.minPassRate == 0.9 && gate.maxErrorRate == 0.2)
    }
}

@Suite struct TrecFileTests {
    @Test func qrelsAndRunsReadWithLineNumberedErrors() throws {
        let qrels = try TrecFiles.readQrels(path: tempFile("q1 0 d1 1\nq1 0 d2 0\n\nq2 0 é 2\n", ext: "qrels"))
        #expect(qrels == ["q1": ["d1": 1, "d2": 0], "q2": ["é": 2]])
        let run = try TrecFiles.readRun(path: tempFile("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 -1e3 t\n", ext: "run"))
        #expect(run == ["q1": ["d1": 0.5, "d2": -1000]])
        func failure(_ text: String, qrels: Bool) -> InputError? {
            let path = tempFile(text, ext: "txt")
            do {
                if qrels { _ = try TrecFiles.readQrels(path: path) } else { _ = try TrecFiles.readRun(path: path) }
                return nil
            } catch { return error }
        }
        #expect(failure("q1 0 d1 1\nq1 0 d1 0\n", qrels: true)?.message.contains("first at line 1") == true)
        #expect(failure("q1 0 d1 high\n", qrels: true)?.field == "grade")
        #expect(failure("q1 0 d1\n", qrels: true)?.location.line == 1)
        #expect(failure("q1 Q0 a 1 0.9 r\nq1 Q0 b 2 0.8 r\nq1 Q0 a 3 0.7 r\n", qrels: false)?.location.line == 3)
        #expect(failure("q1 Q0 a 1 nan r\n", qrels: false)?.field == "score")
        #expect(failure("q1 Q0 a 1 0.5\n", qrels: false)?.message.contains("6 fields") == true)
    }

    @Test func writtenRunsReadBackInRankOrder() throws {
        let text = TrecFiles.runText(["q": ["a": 1, "b": 2, "c": 2]], tag: "t")
        #expect(text == "q Q0 c 1 2.0 t\nq Q0 b 2 2.0 t\nq Q0 a 3 1.0 t\n")  // ties: docid bytes descending
    }
}

@Suite struct TrafficFileTests {
    func trafficFile(_ n: Int) -> String {
        var lines: [String] = []
        for i in 0..<n {
            let tag = i % 8 == 1 ? "billing" : "support"
            if i % 2 == 0 {
                lines.append(#"{"model":"gpt-x","messages":[{"role":"user","content":"question \#(i)"}],"temperature":0.2}"#)
            } else {
                lines.append(#"{"id":"r\#(i)","tags":["\#(tag)"],"request":{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"question \#(i)"}],"max_tokens":64},"response":{"choices":[{"message":{"role":"assistant","content":"answer \#(i)"}}]}}"#)
            }
        }
        return tempFile(lines.joined(separator: "\n") + "\n", ext: "jsonl")
    }

    @Test func readsBareBodiesAndWrappedLogLines() throws {
        var cases: [TrafficCase] = []
        try TrafficFile.forEach(path: trafficFile(4)) { cases.append($0) }
        #expect(cases.count == 4)
        #expect(cases[0].messages == [ChatMessage(role: "user", content: "question 0")] && cases[0].params.temperature == 0.2)
        #expect(cases[0].id.hasPrefix("t-") && cases[0].productionOutput == nil)
        #expect(cases[1].id == "r1" && cases[1].tags == ["billing"] && cases[1].productionOutput == "answer 1" && cases[1].params.maxTokens == 64)
    }

    @Test func malformedLinesAreNamed() {
        let path = tempFile("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n{\"messages\": [\n{\"request\": {}}\n", ext: "jsonl")
        #expect(throws: InputError.self) { try TrafficFile.forEach(path: path) { _ in } }
        do { try TrafficFile.forEach(path: path) { _ in } } catch let e as InputError {
            #expect(e.location.line == 2 && e.message.contains("malformed JSON"))
        } catch { Issue.record("unexpected \(error)") }
        do { _ = try TrafficFile.parse(Array("{\"request\": {}}".utf8), line: 3, file: "t.jsonl") } catch {
            #expect(error.field == "request.messages")
        }
    }

    @Test func samplingIsSeededProportionalAndInFileOrder() throws {
        let path = trafficFile(2000)
        let a = try TrafficSampler(rate: 0.5, seed: 1).sample(path: path)
        let b = try TrafficSampler(rate: 0.5, seed: 1).sample(path: path)
        let c = try TrafficSampler(rate: 0.5, seed: 2).sample(path: path)
        #expect(a == b && a != c)
        #expect(a.count > 900 && a.count < 1100)
        #expect(a.map(\.line) == a.map(\.line).sorted())
        let capped = try TrafficSampler(maxCases: 100, stratifyByTag: true, seed: 1).sample(path: path)
        #expect(capped.count == 100)
        // Strata: untagged 1000, support 750, billing 250 -> 50 / 38 / 12 (proportional, rounded).
        let billing = capped.filter { $0.tags.first == "billing" }.count
        let support = capped.filter { $0.tags.first == "support" }.count
        #expect(billing == 12 || billing == 13)
        #expect(support == 37 || support == 38)
    }
}

/// Issue 15 item 8: ids stay unique after generation, whatever the input.
@Suite struct GeneratedIDTests {
    func ids(_ text: String) throws(InputError) -> [String] {
        try GoldenSetReader(path: tempFile(text, ext: "jsonl")).readAll().map(\.id)
    }

    @Test func aGeneratedSuffixNeverLandsOnAnExplicitID() throws {
        let same = #"{"vars": {"q": "same"}}"#
        let first = try ids(same + "\n")[0]
        // The explicit id comes first: the second identical case skips it.
        let got = try ids(#"{"id": "\#(first)-2", "vars": {"q": "other"}}"# + "\n" + same + "\n" + same + "\n")
        #expect(got == [first + "-2", first, first + "-3"])
        #expect(Set(got).count == got.count)
    }

    @Test func anExplicitIDTakingAGeneratedOneIsRefusedWithTheReason() throws {
        let same = #"{"vars": {"q": "same"}}"#
        let first = try ids(same + "\n")[0]
        do {
            _ = try ids(same + "\n" + same + "\n" + #"{"id": "\#(first)-2", "vars": {"q": "other"}}"# + "\n")
            Issue.record("accepted two cases with one id")
        } catch {
            #expect(error.location.line == 3)
            #expect(error.message.contains("generated for the identical case at line 2"))
        }
    }
}

/// Issue 15 item 13: trec-eval streams the run file, grouped by query or not, to the same numbers.
@Suite struct StreamedRunTests {
    @Test func streamingGivesTheWholeRunsNumbersToTheBitSortedOrNot() throws {
        var rng = SystemRandomNumberGenerator()
        var qrels = ""
        var lines: [String] = []
        for q in 0..<60 {
            for d in 0..<20 where Int.random(in: 0..<3, using: &rng) == 0 { qrels += "q\(q) 0 d\(d) \(Int.random(in: 0...2, using: &rng))\n" }
            for d in 0..<25 { lines.append("q\(q) Q0 d\(d) \(d + 1) \(Double.random(in: 0...1, using: &rng)) tag") }
        }
        lines.append("orphan Q0 d1 1 0.5 tag")
        let qrelsPath = tempFile(qrels, ext: "qrels")
        let measures = RetrievalMeasure.parseRequest("all_trec")!
        let q = try TrecFiles.readQrels(path: qrelsPath)
        for shuffled in [false, true] {
            let runPath = tempFile((shuffled ? lines.shuffled() : lines).joined(separator: "\n") + "\n", ext: "run")
            let whole = RetrievalMetrics.evaluate(qrels: q, run: try TrecFiles.readRun(path: runPath), measures: measures)
            var acc = RetrievalAccumulator(qrels: q, measures: measures)
            var calls = 0
            // A tiny pass size forces several regrouping passes for the shuffled file.
            try TrecFiles.streamRun(path: runPath, linesPerPass: 100) { qid, results in
                calls += 1
                acc.add(query: qid, results: results)
            }
            let streamed = acc.finish()
            #expect(calls == 61)  // every query exactly once
            #expect(streamed.queries == whole.queries && streamed.values == whole.values)
            #expect(streamed.means == whole.means && streamed.completeMeans == whole.completeMeans)
            #expect(streamed.ignoredRunOnly == ["orphan"] && streamed.missingFromRun == whole.missingFromRun)
        }
        // A duplicate is still named with both lines when the file is shuffled.
        let dup = tempFile("q2 Q0 d1 1 0.5 t\nq1 Q0 d1 1 0.5 t\nq2 Q0 d1 2 0.4 t\n", ext: "run")
        do {
            try TrecFiles.streamRun(path: dup) { _, _ in }
            Issue.record("a duplicate was accepted")
        } catch {
            #expect(error.location.line == 3 && error.message.contains("first at line 1"))
        }
    }
}
