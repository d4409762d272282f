import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import TestSupport
import Testing
@testable import Engine

/// Multi-turn cases against the simulator: each turn sees the model's own earlier answers,
/// assertions per turn, every call cached on its own (a changed last turn re-sends only it).
@Suite struct ConversationTests {
    static func chains(_ n: Int, third: String = "Add 16 to that.") -> String {
        JudgedRAGTests.write((0..<n).map { i in
            let a = 10 + i, b = 30 + i
            return #"{"id":"c\#(i)","turns":["What is \#(a) + \#(b)?","Multiply that by 2.","\#(third)"],"assert":[{"type":"equals","value":"\#(a + b)","turn":1},{"type":"equals","value":"\#(2 * (a + b))","turn":2}]}"#
        })
    }

    static var systemPrompt: PromptConfig {
        var p = ModelParams()
        p.temperature = 0
        return PromptConfig(messages: [MessageTemplate(role: "system", content: Template("Answer with the number only."))], params: p)
    }

    static func run(_ golden: String, n: Int, accuracy: Double, store: Store? = nil) async throws -> ([CaseRecord], requests: Int) {
        var profile = SimulatorProfile()
        profile.accuracy = accuracy
        return try await withSimulator(profile) { sim, port in
            let client = makeClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port)
            var job = EvalJob(goldenSetPath: golden, prompt: systemPrompt, gate: .default, concurrency: 8)
            job.memory.store = store
            var sink = MemorySink()
            _ = try await EvalRunner(client: client).run(job, total: n, sink: &sink)
            await client.shutdown()
            return (sink.records, sim.currentStats.chat)
        }
    }

    @Test func laterTurnsWorkOnEarlierAnswersAndFailForTheRightReason() async throws {
        let n = 60
        let (rows, requests) = try await Self.run(Self.chains(n), n: n, accuracy: 0.6)
        #expect(requests == 3 * n)
        var propagated = 0
        for r in rows {
            #expect(r.turns.count == 3)
            let first = Int(r.turns[0].output)!, second = Int(r.turns[1].output)!
            let i = Int(r.id.dropFirst())!
            let right = 10 + i + 30 + i
            // Turn 2 is computed from turn 1's answer (right or not), unless the model erred again.
            if second == 2 * first, first != right {
                propagated += 1
                let t2 = r.assertions[1]
                #expect(!t2.pass && t2.reason.contains("turn 2") && t2.reason.contains("\(second)"), "\(t2.reason)")
            }
            #expect(r.assertions[0].pass == (first == right))
        }
        #expect(propagated > 0, "some wrong first answers must carry into turn 2")
        let (good, _) = try await Self.run(Self.chains(n), n: n, accuracy: 1)
        #expect(good.allSatisfy { $0.status == .passed && $0.output == String(2 * (Int($0.turns[0].output)!) + 16) })
    }

    @Test func everyTurnIsCachedOnItsOwn() async throws {
        let n = 20
        let store = try Store.open(path: NSTemporaryDirectory() + "evalengine-conv-\(UUID().uuidString).sqlite")
        let (_, cold) = try await Self.run(Self.chains(n), n: n, accuracy: 1, store: store)
        let (_, warm) = try await Self.run(Self.chains(n), n: n, accuracy: 1, store: store)
        // Only the last turn changed: the first two are answered from the cache.
        let (rows, changed) = try await Self.run(Self.chains(n, third: "Subtract 4 from that."), n: n, accuracy: 1, store: store)
        #expect(cold == 3 * n && warm == 0 && changed == n, "\(cold) \(warm) \(changed)")
        #expect(rows.allSatisfy { $0.turns[0].cached && $0.turns[1].cached && !$0.turns[2].cached })
        let back = try #require(CaseRecord(json: rows[0].json()))
        #expect(back.turns == rows[0].turns)
    }

    @Test func badTurnsAreNamed() {
        let cases: [(String, String)] = [
            (#"{"id":"a","turns":"hello"}"#, "turns"),
            (#"{"id":"a","turns":[]}"#, "turns"),
            (#"{"id":"a","turns":[{"text":"x"}]}"#, "turns[0].text"),
            (#"{"id":"a","turns":["{{later}}"]}"#, "turns[0].user"),
            (#"{"id":"a","turns":[{"user":"x","tool_results":[{"name":"t"}]}]}"#, "turns[0].tool_results[0].content"),
            (#"{"id":"a","turns":["x"],"assert":[{"type":"equals","value":"1","turn":2}]}"#, "assert[0].turn"),
            (#"{"id":"a","assert":[{"type":"equals","value":"1","turn":1}]}"#, "assert[0].turn"),
            (#"{"id":"a","turns":["x"],"assert":[{"type":"llm-rubric","value":"ok","turn":1}]}"#, "assert[0].turn"),
        ]
        for (text, field) in cases {
            do {
                _ = try GoldenCase.decode(try JSONValue.parse(text), location: SourceLocation(file: "g.jsonl", line: 1))
                Issue.record("accepted \(text)")
            } catch let e as FieldError {
                #expect(e.field == field, "\(text): \(e)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}
