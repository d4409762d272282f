import EvalCore
import Foundation
import GoldenSets
import ModelClient
import NIOPosix
import SimulatedModel
import Testing
import TestSupport
@testable import Engine

/// Every endpoint fault the simulator can inject, against each stage: the expected outcome holds
/// (retried and recovered, or counted as errors with a verdict that is never a quality `fail`),
/// nothing crashes, and no run outlives its deadline (attempts × request timeout, plus backoff).
/// docs/RELIABILITY.md lists the table.
@Suite(.serialized) struct FaultMatrixTests {
    enum Expected: Sendable, CustomStringConvertible {
        /// Every case completes (retries absorb the faults).
        case recovered
        /// Every case is an error of this kind; the gate cannot decide (inconclusive).
        case errored(String)
        /// Every case completes but fails its assertions: the model's answer, not infrastructure.
        case answeredWrong

        var description: String {
            switch self {
            case .recovered: "retried and recovered"
            case .errored(let k): "errored (\(k)), verdict inconclusive"
            case .answeredWrong: "cases fail, verdict fail"
            }
        }
    }

    struct Fault: Sendable, CustomTestStringConvertible {
        var name: String
        var faults: SimulatorProfile.Faults
        var expected: Expected
        /// Per-attempt deadline: short where timing out is the point, generous elsewhere so a
        /// loaded CI host cannot turn a healthy attempt into a timeout.
        var timeoutSeconds: Double
        var testDescription: String { "\(name) → \(expected)" }
        /// The longest the run may take: every attempt of every case at its deadline, twice over,
        /// plus room for a loaded host.
        var deadlineSeconds: Double { Double(FaultMatrixTests.attempts) * timeoutSeconds * 2 + 15 }

        init(_ name: String, _ expected: Expected, timeout: Double = 5, _ set: (inout SimulatorProfile.Faults) -> Void) {
            self.name = name
            self.expected = expected
            self.timeoutSeconds = timeout
            var f = SimulatorProfile.Faults()
            set(&f)
            faults = f
        }
    }

    static let attempts = 6

    static let faults: [Fault] = [
        Fault("connection reset mid-body, 20%", .recovered) { $0.rateDrop = 0.2 },
        Fault("connection reset mid-body, always", .errored("connection")) { $0.rateDrop = 1 },
        Fault("slow drip beyond the deadline, always", .errored("timeout"), timeout: 1) { $0.rateSlowDrip = 1; $0.dripSeconds = 4 },
        Fault("slow drip within the deadline, 20%", .recovered, timeout: 3) { $0.rateSlowDrip = 0.2; $0.dripSeconds = 0.3 },
        Fault("hang (timeout), 20%", .recovered, timeout: 2) { $0.rateTimeout = 0.2; $0.hangSeconds = 5 },
        Fault("hang (timeout), always", .errored("timeout"), timeout: 1) { $0.rateTimeout = 1; $0.hangSeconds = 5 },
        Fault("429 storm with Retry-After, always", .errored("rate_limited")) { $0.rate429 = 1; $0.retryAfterSeconds = 0.2 },
        Fault("429 storm without Retry-After, always", .errored("rate_limited")) { $0.rate429 = 1; $0.retryAfterSeconds = nil },
        Fault("429 without Retry-After, 20%", .recovered) { $0.rate429 = 0.2; $0.retryAfterSeconds = nil },
        Fault("429 with Retry-After, 20%", .recovered) { $0.rate429 = 0.2; $0.retryAfterSeconds = 0.1 },
        Fault("500/502/503, 7% each", .recovered) { $0.rate500 = 0.07; $0.rate502 = 0.07; $0.rate503 = 0.07 },
        Fault("503, always", .errored("http_503")) { $0.rate503 = 1 },
        Fault("truncated JSON, 20%", .recovered) { $0.rateMalformed = 0.2 },
        Fault("truncated JSON, always", .errored("malformed_response")) { $0.rateMalformed = 1 },
        // An empty answer is retried like a transient fault, then counted as an error of its own kind.
        Fault("empty content, always", .errored("empty_output")) { $0.rateEmpty = 1 },
    ]

    /// A client with short backoff and 6 attempts, so that a 20% fault rate leaves a case
    /// unanswered with probability 0.2^6 = 6.4e-5.
    static func endpoint(_ port: Int, timeout: Double = 5) -> EndpointConfig {
        var e = EndpointConfig(name: "sim", baseURL: "http://127.0.0.1:\(port)", model: "sim-small")
        e.requestTimeoutSeconds = timeout
        e.connectTimeoutSeconds = timeout
        e.retry.maxAttempts = attempts
        e.retry.initialBackoffSeconds = 0.01
        e.retry.maxBackoffSeconds = 0.05
        e.maxInFlight = 32
        return e
    }

    static let golden: String = {
        let dir = scratchDir(["g.jsonl": arithmeticGoldenSet(24)])
        return dir + "/g.jsonl"
    }()

    static let prompt: PromptConfig = { try! ConfigFiles.loadPrompt(path: qaPrompt) }()

    func check(_ fault: Fault, summary: RunSummary, verdict: Verdict, seconds: Double, stage: String) {
        let kinds = summary.errorsByKind
        switch fault.expected {
        case .recovered:
            #expect(summary.errored == 0 && summary.scored == summary.total, "\(stage) \(fault.name): \(summary.errored) errored \(kinds)")
            #expect(verdict != .inconclusive, "\(stage) \(fault.name)")
        case .errored(let kind):
            #expect(summary.errored == summary.total, "\(stage) \(fault.name): \(summary.errored)/\(summary.total) errored \(kinds)")
            #expect(kinds.keys.allSatisfy { $0 == kind }, "\(stage) \(fault.name): kinds \(kinds), expected \(kind)")
            #expect(verdict == .inconclusive, "\(stage) \(fault.name): verdict \(verdict)")
        case .answeredWrong:
            #expect(summary.errored == 0 && summary.failed == summary.total, "\(stage) \(fault.name): \(summary.failed) failed, \(summary.errored) errored")
            #expect(verdict == .fail)
        }
        #expect(seconds < fault.deadlineSeconds, "\(stage) \(fault.name) took \(seconds) s")
        print("fault matrix: \(stage) | \(fault.name) | \(fault.expected) | errored \(summary.errored)/\(summary.total) \(kinds), retries \(summary.retries), \(String(format: "%.1f", seconds)) s")
    }

    @Test(arguments: faults) func eval(_ fault: Fault) async throws {
        var profile = SimulatorProfile()
        profile.accuracy = 1
        profile.faults = fault.faults
        try await withSimulator(profile) { _, port in
            try await withClient(FaultMatrixTests.endpoint(port, timeout: fault.timeoutSeconds), port: port) { client in
                var sink = MemorySink()
                var gate = GateConfig.default
                gate.minPassRate = 0.9
                let job = EvalJob(goldenSetPath: FaultMatrixTests.golden, prompt: FaultMatrixTests.prompt, gate: gate, concurrency: 24)
                let t0 = Date()
                let r = try await EvalRunner(client: client).run(job, total: 24, sink: &sink)
                check(fault, summary: r.summary, verdict: r.gate.verdict, seconds: Date().timeIntervalSince(t0), stage: "eval")
            }
        }
    }

    /// The candidate misbehaves, the baseline is healthy: errors are never counted as quality
    /// losses, so a faulty candidate is inconclusive (or passes once retries recover), never a fail.
    @Test(arguments: faults.filter { if case .answeredWrong = $0.expected { return false } else { return true } })
    func shadowCompare(_ fault: Fault) async throws {
        var healthy = SimulatorProfile()
        healthy.accuracy = 1
        var faultyProfile = healthy
        faultyProfile.faults = fault.faults
        let faulty = faultyProfile
        try await withSimulator(healthy) { _, basePort in
            try await withSimulator(faulty) { _, candPort in
                try await withClient(FaultMatrixTests.endpoint(basePort), port: basePort) { base in
                    try await withClient(FaultMatrixTests.endpoint(candPort, timeout: fault.timeoutSeconds), port: candPort) { cand in
                        let p = FaultMatrixTests.prompt
                        let job = ShadowJob(cases: .goldenSet(path: FaultMatrixTests.golden, baselinePrompt: p, candidatePrompt: p), concurrency: 24)
                        let t0 = Date()
                        let r = try await ShadowRunner(baseline: base, candidate: cand).run(job)
                        let seconds = Date().timeIntervalSince(t0)
                        let candErrors = r.pairs.filter { $0.candidate.errorKind != nil }.count
                        let baseErrors = r.pairs.filter { $0.baseline.errorKind != nil }.count
                        #expect(baseErrors == 0)
                        #expect(r.gate.verdict != .fail, "shadow \(fault.name): a faulty candidate was called a regression")
                        switch fault.expected {
                        case .recovered: #expect(candErrors == 0, "shadow \(fault.name): \(candErrors) candidate errors")
                        case .errored: #expect(candErrors == r.pairs.count && r.gate.verdict == .inconclusive, "shadow \(fault.name)")
                        case .answeredWrong: break
                        }
                        #expect(seconds < fault.deadlineSeconds, "shadow \(fault.name) took \(seconds) s")
                        print("fault matrix: shadow-compare (candidate) | \(fault.name) | \(fault.expected) | candidate errors \(candErrors)/\(r.pairs.count), verdict \(r.gate.verdict.rawValue), \(String(format: "%.1f", seconds)) s")
                    }
                }
            }
        }
    }

    /// Embedding faults in index-test: transient ones are retried and the metrics equal a clean
    /// run's; permanent ones stop the stage with an error that says what happened.
    @Test func indexTestUnderEmbeddingFaults() async throws {
        func run(_ faults: SimulatorProfile.Faults) async throws -> Result<IndexTestResult, any Error> {
            var profile = SimulatorProfile()
            profile.faults = faults
            return try await withSimulator(profile) { _, port in
                try await withClient(FaultMatrixTests.endpoint(port), port: port) { client in
                    do {
                        return .success(try await IndexTestRunner(embedders: ["sim": Embedder(client: client, batchSize: 64, store: nil)]).run(try ragJob()))
                    } catch {
                        return .failure(error)
                    }
                }
            }
        }
        let clean = try await run(SimulatorProfile.Faults()).get()
        var transient = SimulatorProfile.Faults()
        transient.rateDrop = 0.1
        transient.rate503 = 0.1
        transient.rateMalformed = 0.1
        let recovered = try await run(transient).get()
        #expect(recovered.baseline.run == clean.baseline.run && recovered.candidate.run == clean.candidate.run)
        print("fault matrix: index-test | resets, 503s and truncated JSON, 10% each | retried and recovered | metrics equal to a clean run's")

        var dims = SimulatorProfile.Faults()
        dims.rateBadDimensions = 0.02
        guard case .failure(let e) = try await run(dims) else { Issue.record("wrong embedding dimensions were accepted"); return }
        #expect("\(e)".contains("dimension"), "\(e)")
        print("fault matrix: index-test | wrong embedding dimensions, 2% of texts | stage error | \(e)")

        var down = SimulatorProfile.Faults()
        down.rate503 = 1
        guard case .failure(let e2) = try await run(down) else { Issue.record("an endpoint answering only 503 gave a result"); return }
        print("fault matrix: index-test | 503, always | stage error | \(e2)")
    }

    /// Nothing listens: every call is refused at once, and the run says so instead of hanging.
    @Test func connectionRefusedIsAnErrorForEveryCaseAndTheVerdictIsInconclusive() async throws {
        let port = try await withSimulator { _, port in port }  // a port that was just closed
        try await withClient(FaultMatrixTests.endpoint(port), port: port) { client in
            var sink = MemorySink()
            let job = EvalJob(goldenSetPath: FaultMatrixTests.golden, prompt: FaultMatrixTests.prompt, concurrency: 24)
            let t0 = Date()
            let r = try await EvalRunner(client: client).run(job, total: 24, sink: &sink)
            check(Fault("connection refused", .errored("connection")) { _ in }, summary: r.summary, verdict: r.gate.verdict,
                  seconds: Date().timeIntervalSince(t0), stage: "eval")
        }
        // shadow-compare with the candidate refused: inconclusive, never fail.
        var healthy = SimulatorProfile()
        healthy.accuracy = 1
        try await withSimulator(healthy) { _, basePort in
            try await withClient(FaultMatrixTests.endpoint(basePort), port: basePort) { base in
                try await withClient(FaultMatrixTests.endpoint(port), port: port) { cand in
                    let p = FaultMatrixTests.prompt
                    let job = ShadowJob(cases: .goldenSet(path: FaultMatrixTests.golden, baselinePrompt: p, candidatePrompt: p), concurrency: 24)
                    let r = try await ShadowRunner(baseline: base, candidate: cand).run(job)
                    let candErrors = r.pairs.filter { $0.candidate.errorKind == "connection" }.count
                    #expect(candErrors == r.pairs.count && r.gate.verdict == .inconclusive)
                    print("fault matrix: shadow-compare (candidate) | connection refused | errored (connection), verdict inconclusive | candidate errors \(candErrors)/\(r.pairs.count), verdict \(r.gate.verdict.rawValue)")
                }
            }
        }
        // index-test with the embedding endpoint refused: the stage stops and says why.
        try await withClient(FaultMatrixTests.endpoint(port), port: port) { client in
            do {
                _ = try await IndexTestRunner(embedders: ["sim": Embedder(client: client, batchSize: 64, store: nil)]).run(try ragJob())
                Issue.record("index-test gave a result with its embedding endpoint refusing connections")
            } catch {
                #expect("\(error)".contains("connection"), "\(error)")
                print("fault matrix: index-test | connection refused | stage error | \(error)")
            }
        }
    }
}
