import Foundation
import Spawn

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
/// Waits without blocking a thread: the simulator in this process needs the cooperative pool.
/// `environment` sets (or, with nil, removes) variables for the child only: a test never calls
/// setenv, which races every other test's process launch reading the environment (seen: a crash
/// in Process.run's copy of it).
func runCLI(_ arguments: [String], timeout: Double = 120, environment: [String: String?] = [:]) async throws -> CLIResult {
    let base = NSTemporaryDirectory() + "evalengine-cli-\(UUID().uuidString)"
    let p = try startCLI(arguments, logBase: base, environment: environment)
    await wait(p, timeout: timeout)
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

/// Number of distinct `question` vars in a JSONL golden set: identical requests in a run share one
/// call, so this is how many calls a cold run makes.
func distinctQuestions(_ path: String) -> Int {
    let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    var seen = Set<String>()
    for line in text.split(separator: "\n") {
        guard let start = line.range(of: "\"question\":\"") else { continue }
        let rest = line[start.upperBound...]
        if let end = rest.firstIndex(of: "\"") { seen.insert(String(rest[..<end])) }
    }
    return seen.count
}

/// Starts the CLI without waiting; output goes to `logBase`.out/.err.
func startCLI(_ arguments: [String], logBase: String, environment: [String: String?] = [:]) throws -> ChildProcess {
    var env: [String: String]?
    if !environment.isEmpty {
        var e = ProcessInfo.processInfo.environment
        for (k, v) in environment { e[k] = v }
        env = e
    }
    return try ChildProcess(executable: cliPath, arguments: arguments, environment: env, directory: repoRoot,
                            stdout: .file(logBase + ".out"), stderr: .file(logBase + ".err"))
}

/// Waits for a started process, at most `timeout` seconds (then kills it), without blocking a thread.
func wait(_ p: ChildProcess, timeout: Double = 120) async {
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    if p.isRunning { p.terminate() }
    while p.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    p.waitUntilExit()
}

/// A golden set of `n` arithmetic cases with distinct questions (`prefix` keeps two sets apart).
func arithmeticGoldenSet(_ n: Int, prefix: Int = 0) -> String {
    var lines: [String] = []
    for i in 0..<n {
        let a = prefix * 100_000 + i
        lines.append(#"{"id":"q\#(prefix)-\#(i)","vars":{"question":"What is \#(a) + 7?"},"expected":"\#(a + 7)"}"#)
    }
    return lines.joined(separator: "\n") + "\n"
}
