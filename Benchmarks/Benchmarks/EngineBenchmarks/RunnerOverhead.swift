import Benchmark
import Engine
import EvalCore
import Foundation
import GoldenSets
import ModelClient
import NIOPosix
import SimulatedModel
import Synchronization

/// What the runner costs per case beyond the model's own time: 1,000 distinct cases through
/// `EvalRunner` against the simulated endpoint in this process on loopback, with no latency, no
/// limit and no cache, so every case pays the whole path (template, request body, limiter, HTTP
/// round trip, parse, scoring, aggregation). Wall clock ÷ 1,000 is the per-case overhead.
func registerRunnerOverhead() {
    let harness = SimulatorHarness()
    Benchmark(
        "RunnerOverhead1kCases",
        // The event loops and the HTTP pool allocate a little differently run to run.
        configuration: .init(maxDuration: .seconds(10), maxIterations: 20, thresholds: [.mallocCountTotal: .init(relative: [.p90: 5.0])]),
        closure: { benchmark in
            for _ in benchmark.scaledIterations {
                var sink = DiscardingSink()
                let result = try await EvalRunner(client: harness.client).run(harness.job, total: harness.total, sink: &sink)
                precondition(result.summary.total == harness.total && result.summary.errored == 0, "the simulated endpoint failed cases")
                blackHole(result)
            }
        },
        setup: { try await harness.start() },
        teardown: { await harness.stop() })
}

struct DiscardingSink: CaseSink {
    mutating func write(_ record: CaseRecord) throws { blackHole(record) }
}

/// A simulated endpoint served from a background task for the benchmark's lifetime.
final class SimulatorHarness: @unchecked Sendable {
    private let sim = SimulatedEndpoint(profile: SimulatorProfile())
    private var server: Task<Void, Error>?
    private(set) var client: EndpointClient!
    private(set) var job: EvalJob!
    private(set) var total = 0

    func start() async throws {
        let dir = NSTemporaryDirectory() + "evalengine-bench-runner-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var lines = ""
        for i in 0..<1000 {
            lines += #"{"id":"c\#(i)","vars":{"question":"What is \#(i) * 3?"},"expected":"\#(i * 3)","assert":[{"type":"equals","metric":"accuracy"}]}"# + "\n"
        }
        let golden = dir + "/cases.jsonl"
        try lines.write(toFile: golden, atomically: true, encoding: .utf8)
        let promptPath = dir + "/prompt.yaml"
        try "messages:\n  - role: user\n    content: \"{{question}}\"\nparams:\n  temperature: 0\n  max_tokens: 32\n"
            .write(toFile: promptPath, atomically: true, encoding: .utf8)
        let prompt = try ConfigFiles.loadPrompt(path: promptPath)
        total = try EvalRunner.validate(goldenSetPath: golden, prompt: prompt)
        job = EvalJob(goldenSetPath: golden, prompt: prompt, gate: .default, concurrency: 64)

        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        let sim = self.sim
        server = Task { try await sim.run(port: 0) { sink.yield($0) } }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else { throw CancellationError() }
        var e = EndpointConfig(name: "sim", baseURL: nil, model: "sim-small")
        e.maxInFlight = 64
        client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: nil, baseURL: "http://127.0.0.1:\(port)",
                                eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    }

    func stop() async {
        await client?.shutdown()
        await sim.stop()
        _ = try? await server?.value
    }
}
