import AsyncHTTPClient
import EvalCore
import Foundation
import NIOCore
import NIOHTTP1
import Spawn

let repoRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let cliPath = repoRoot + "/.build/debug/evalengine"

/// A scratch directory with files.
func scratchDir(_ files: [String: String]) -> String {
    let dir = NSTemporaryDirectory() + "evalengine-svc-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for (name, text) in files {
        let path = dir + "/" + name
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: text.data(using: .utf8))
    }
    return dir
}

/// `n` arithmetic cases with distinct questions.
func arithmeticGoldenSet(_ n: Int, offset: Int = 0) -> String {
    (0..<n).map { i in #"{"id":"q\#(i + offset)","vars":{"question":"What is \#(i + offset) + 7?"},"expected":"\#(i + offset + 7)"}"# }.joined(separator: "\n") + "\n"
}

let promptYAML = "messages:\n  - {role: user, content: \"{{question}}\"}\nparams: {temperature: 0}\n"

/// A running `evalengine serve` subprocess.
final class ServerProcess: @unchecked Sendable {
    let process: ChildProcess
    let port: Int
    let logBase: String
    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts the server with `config` (a path) and waits for its "serving on" line.
    init(config: String, dir: String, name: String = "server") async throws {
        logBase = dir + "/" + name + "-\(UUID().uuidString.prefix(6))"
        let p = try ChildProcess(executable: cliPath, arguments: ["serve", "--config", config, "--port", "0", "--log-level", "warning"], directory: dir,
                                 stdout: .file(logBase + ".out"), stderr: .file(logBase + ".err"))
        process = p
        var found: Int?
        for _ in 0..<600 {
            let out = String(decoding: FileManager.default.contents(atPath: logBase + ".out") ?? Data(), as: UTF8.self)
            if let r = out.range(of: "serving on http://127.0.0.1:") {
                found = Int(out[r.upperBound...].prefix { $0.isNumber })
                break
            }
            if !p.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let found else {
            p.terminate()
            let err = String(decoding: FileManager.default.contents(atPath: logBase + ".err") ?? Data(), as: UTF8.self)
            throw TestFailure("the server did not start: \(err)")
        }
        port = found
    }

    var stderr: String { String(decoding: FileManager.default.contents(atPath: logBase + ".err") ?? Data(), as: UTF8.self) }

    func kill9() {
        process.send(SIGKILL)
        process.waitUntilExit()
    }

    /// Waits for the process to exit (polling, so the cooperative pool stays free).
    func waitForExit(timeout: Double) async -> Int32? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit { process.killAndReap() }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

struct HTTPResult {
    var status: Int
    var headers: HTTPHeaders
    var body: String
    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
}

/// One HTTP request over loopback.
func http(_ method: HTTPMethod, _ url: String, body: String? = nil, headers: [(String, String)] = [], timeout: Int64 = 60) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (k, v) in headers { request.headers.add(name: k, value: v) }
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
    let bytes = try await response.body.collect(upTo: 64 << 20)
    return HTTPResult(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
}

/// `evalengine simulate` in its own process: its timing does not depend on how busy the test
/// process is (the kill test needs to see the moments when nothing is in flight).
final class SimulatorProcess: @unchecked Sendable {
    let process: ChildProcess
    let port: Int

    init(profile: String, dir: String) async throws {
        let log = dir + "/sim-\(UUID().uuidString.prefix(6))"
        let p = try ChildProcess(executable: cliPath, arguments: ["simulate", "--port", "0", "--profile", profile], stdout: .file(log + ".out"), stderr: .null)
        process = p
        var found: Int?
        for _ in 0..<600 {
            let out = String(decoding: FileManager.default.contents(atPath: log + ".out") ?? Data(), as: UTF8.self)
            if let r = out.range(of: "listening on http://127.0.0.1:") {
                found = Int(out[r.upperBound...].prefix { $0.isNumber })
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let found else { throw TestFailure("the simulator did not start") }
        port = found
    }

    /// `GET /sim/stats`.
    func stats() async throws -> (chat: Int, inFlight: Int, ok: Int) {
        let s = try await http(.GET, "http://127.0.0.1:\(port)/sim/stats", timeout: 10).json
        return (Int(s["chat"]?.numberValue ?? -1), Int(s["in_flight"]?.numberValue ?? -1), Int(s["status"]?["200"]?.numberValue ?? 0))
    }

    deinit { process.killAndReap() }
}
