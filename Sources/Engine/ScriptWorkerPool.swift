import Dispatch
import EvalCore
import Foundation
import ModelClient
import Spawn
import Synchronization

/// One persistent scorer process speaking JSON lines: a request line on its stdin, one answer
/// line on its stdout. Reads block, so each worker has a serial queue of its own: the scorer's
/// IO never takes a cooperative thread.
final class ScriptWorker: @unchecked Sendable {
    // `process`, `stdinHandle`, `stdoutFD` and `pending` are touched only on `queue`, except `kill`.
    private let process: ChildProcess
    private let stdinHandle: FileHandle
    /// Owns the descriptor `stdoutFD` reads (closed with it).
    private let stdoutHandle: FileHandle
    private let stderrHandle: FileHandle
    private let stdoutFD: Int32
    private var pending: [UInt8] = []
    let queue: DispatchQueue
    private let stderrTail = TailBuffer()

    /// The last bytes a scorer wrote to stderr.
    final class TailBuffer: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    /// The longest answer line read (a scorer that writes megabytes is broken, not slow).
    static let maxAnswerBytes = 1 << 20

    enum Failure: Error {
        case exited(String)
        case tooLong
        case io(String)
    }

    init(command: [String], directory: String, environment: [String: String]) throws {
        // Our ends close on exec; the child's ends are copied onto its 0, 1 and 2 and then closed here.
        let input = try ChildProcess.pipe(), output = try ChildProcess.pipe(), errors = try ChildProcess.pipe()
        defer { for fd in [input.read, output.write, errors.write] { close(fd) } }
        do {
            process = try ChildProcess(
                executable: command[0], arguments: Array(command.dropFirst()), environment: environment, directory: directory,
                stdin: .descriptor(input.read), stdout: .descriptor(output.write), stderr: .descriptor(errors.write))
        } catch {
            for fd in [input.write, output.read, errors.read] { close(fd) }
            throw error
        }
        stdinHandle = FileHandle(fileDescriptor: input.write, closeOnDealloc: true)
        stdoutHandle = FileHandle(fileDescriptor: output.read, closeOnDealloc: true)
        stdoutFD = output.read
        queue = DispatchQueue(label: "evalengine.scorer.\(process.processIdentifier)")
        // The last 2 KB of stderr, for the message when the scorer dies; drained so it cannot block.
        let tail = stderrTail
        stderrHandle = FileHandle(fileDescriptor: errors.read, closeOnDealloc: true)
        stderrHandle.readabilityHandler = { h in
            let data = h.availableData
            if data.isEmpty { h.readabilityHandler = nil; return }
            tail.bytes.withLock { t in
                t.append(contentsOf: data)
                if t.count > 2048 { t.removeFirst(t.count - 2048) }
            }
        }
    }

    var stderrText: String { String(decoding: stderrTail.bytes.withLock { $0 }, as: UTF8.self) }

    /// Writes one request line and reads one answer line. Blocking: call on `queue`.
    func exchange(_ line: [UInt8]) -> Result<[UInt8], Failure> {
        guard process.isRunning else { return .failure(.exited(exitDescription)) }
        do {
            try stdinHandle.write(contentsOf: line + [UInt8(ascii: "\n")])
        } catch {
            return .failure(.exited(exitDescription))
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let answer = Array(pending[..<nl])
                pending.removeSubrange(...nl)
                return .success(answer)
            }
            if pending.count > ScriptWorker.maxAnswerBytes { return .failure(.tooLong) }
            let n = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, $0.count) }
            if n == 0 {
                process.waitUntilExit()
                return .failure(.exited(exitDescription))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.io(String(cString: strerror(errno))))
            }
            pending.append(contentsOf: chunk[..<n])
        }
    }

    private var exitDescription: String {
        let status = process.isRunning ? "still running" : "exit status \(process.terminationStatus)"
        let err = stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
        return status + (err.isEmpty ? "" : "; stderr: " + String(err.suffix(500)))
    }

    /// Stops the process at once (a hung or broken scorer); a blocked read then sees the end.
    func kill() {
        process.killAndReap()
        try? stdinHandle.close()
    }
}

/// The workers of one scorer command: started when first needed, at most `size` at once, kept
/// for the run and stopped at its end. A worker that crashes, hangs past its timeout or answers
/// something that is not one JSON line is killed and replaced; its case is errored.
actor ScriptWorkerPool {
    let command: [String]
    let directory: String
    let size: Int
    private var idle: [ScriptWorker] = []
    private var running = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var all: [ObjectIdentifier: ScriptWorker] = [:]
    /// Workers started (restarts included), for reports and tests.
    private(set) var started = 0

    /// What a scorer process sees of our environment: enough to run, none of our secrets.
    static let environment: [String: String] = {
        var env: [String: String] = ["PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"]
        let ours = ProcessInfo.processInfo.environment
        for key in ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV"] { if let v = ours[key] { env[key] = v } }
        return env
    }()

    init(command: [String], directory: String, size: Int) {
        self.command = command
        self.directory = directory
        self.size = max(1, size)
    }

    private func acquire() async throws -> ScriptWorker {
        while true {
            if let w = idle.popLast() { return w }
            if running < size {
                running += 1
                do {
                    let w = try ScriptWorker(command: command, directory: directory, environment: ScriptWorkerPool.environment)
                    started += 1
                    all[ObjectIdentifier(w)] = w
                    return w
                } catch {
                    running -= 1
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    private func release(_ w: ScriptWorker, healthy: Bool) {
        if healthy {
            idle.append(w)
        } else {
            w.kill()
            all[ObjectIdentifier(w)] = nil
            running -= 1
        }
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }

    /// One answer line for one request line, within `timeout` seconds.
    func call(_ line: [UInt8], timeout: Double) async -> Result<[UInt8], ScorerCallError> {
        let worker: ScriptWorker
        do { worker = try await acquire() } catch {
            return .failure(.init(message: "cannot start the scorer \(command.joined(separator: " ")): \(error)"))
        }
        // One deadline per call on the shared scheduler (a Task.sleep per call would keep a timer
        // alive until it was due). On the deadline the body is cancelled, which kills the worker:
        // its blocked read then ends.
        let exchanged = try? await withDeadline(seconds: timeout) { () async -> Result<[UInt8], ScorerCallError> in
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Result<[UInt8], ScorerCallError>, Never>) in
                    worker.queue.async {
                        switch worker.exchange(line) {
                        case .success(let answer): c.resume(returning: .success(answer))
                        case .failure(.exited(let why)): c.resume(returning: .failure(.init(message: "the scorer exited (\(why))", restart: true)))
                        case .failure(.tooLong): c.resume(returning: .failure(.init(message: "the scorer's answer is longer than \(ScriptWorker.maxAnswerBytes) bytes", restart: true)))
                        case .failure(.io(let why)): c.resume(returning: .failure(.init(message: "reading the scorer failed: \(why)", restart: true)))
                        }
                    }
                }
            } onCancel: {
                worker.kill()
            }
        }
        let outcome: Result<[UInt8], ScorerCallError> = exchanged.flatMap { $0 }
            ?? .failure(.init(message: "the scorer did not answer within \(format(timeout)) s", restart: true))
        var healthy = true
        if case .failure(let e) = outcome, e.restart { healthy = false }
        release(worker, healthy: healthy)
        return outcome
    }

    /// Every worker stopped (the run is over).
    func shutdown() {
        for w in all.values { w.kill() }
        all.removeAll()
        idle.removeAll()
    }

    var workersStarted: Int { started }
}

/// Why a scorer gave no answer; `restart` when its worker must be replaced.
struct ScorerCallError: Error {
    var message: String
    var restart = false
}
