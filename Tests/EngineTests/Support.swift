import EvalCore
import ModelClient
import NIOPosix
import SimulatedModel

/// Runs `body` with a simulated endpoint listening on a loopback port.
func withSimulator<T: Sendable>(
    _ profile: SimulatorProfile = SimulatorProfile(), _ body: @Sendable (SimulatedEndpoint, Int) async throws -> T
) async throws -> T {
    let sim = SimulatedEndpoint(profile: profile)
    let (ports, sink) = AsyncStream.makeStream(of: Int.self)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await sim.run(port: 0) { sink.yield($0) }
            return nil
        }
        var it = ports.makeAsyncIterator()
        let port = await it.next()!
        defer { group.cancelAll() }
        return try await body(sim, port)
    }
}

func makeClient(_ e: EndpointConfig, port: Int, apiKey: String? = nil) -> EndpointClient {
    EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: apiKey, baseURL: "http://127.0.0.1:\(port)",
                   eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
}

func request(_ text: String, maxTokens: Int? = 64) -> ModelRequest {
    var p = ModelParams()
    p.maxTokens = maxTokens
    p.temperature = 0
    return ModelRequest(messages: [ChatMessage(role: "user", content: text)], params: p)
}

/// Runs `body` with a client for `e` on `port` (or a full base URL), shutting it down on every path.
func withClient<T: Sendable>(
    _ e: EndpointConfig, port: Int, path: String = "", apiKey: String? = nil, _ body: @Sendable (EndpointClient) async throws -> T
) async throws -> T {
    let client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: apiKey, baseURL: "http://127.0.0.1:\(port)\(path)",
                                eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    do {
        let r = try await body(client)
        await client.shutdown()
        return r
    } catch {
        await client.shutdown()
        throw error
    }
}

import Foundation

/// Path of the built CLI next to the test bundle.
let cliPath: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/evalengine").path
}()

let repoRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the CLI to completion with a deadline (a hang fails the test instead of the suite).
func runCLI(_ arguments: [String], cwd: String = repoRoot, timeout: Double = 120) throws -> CLIResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: cliPath)
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    // Output goes to files, not pipes, so a chatty child can never block on a full pipe.
    let base = NSTemporaryDirectory() + "evalengine-cli-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: base + ".out", contents: nil)
    FileManager.default.createFile(atPath: base + ".err", contents: nil)
    let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
    p.standardOutput = outHandle
    p.standardError = errHandle
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning {
        p.terminate()
    }
    p.waitUntilExit()
    try? outHandle.close()
    try? errHandle.close()
    let outData = FileManager.default.contents(atPath: base + ".out") ?? Data()
    let errData = FileManager.default.contents(atPath: base + ".err") ?? Data()
    return CLIResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// A scratch directory with files.
func scratchDir(_ files: [String: String]) -> String {
    let dir = NSTemporaryDirectory() + "evalengine-e2e-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for (name, text) in files { FileManager.default.createFile(atPath: dir + "/" + name, contents: text.data(using: .utf8)) }
    return dir
}
