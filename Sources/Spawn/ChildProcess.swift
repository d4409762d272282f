import CSpawn
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a child process could not be started.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public let executable: String
    public let code: Int32
    public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }

    public init(executable: String, code: Int32) {
        self.executable = executable
        self.code = code
    }
}

/// A child process started with `posix_spawn`, in place of Foundation's `Process` everywhere we
/// start one (user scorers; the tests' servers, simulators and CLIs). On Linux, `Process.run`
/// finds the highest open descriptor by reading /proc/self/fd and copies 256 bytes of every entry:
/// with ~1,350 descriptors open (a busy service's connections) that read runs past its buffer and
/// can crash the process (swift-corelibs-foundation#5472; seen in CI). Here the child closes its
/// other descriptors itself, starts with an empty signal mask and default signal actions, and
/// changes to its directory itself; the parent only spawns, signals and reaps.
public final class ChildProcess: Sendable {
    /// Where one of the child's standard descriptors comes from.
    public enum Stdio: Sendable {
        /// Ours.
        case inherit
        /// /dev/null.
        case null
        /// A descriptor of ours (the caller keeps and closes it).
        case descriptor(Int32)
        /// A file: read for standard input; created or truncated for output.
        case file(String)
    }

    public enum TerminationReason: Sendable {
        case exit
        case uncaughtSignal
    }

    public let processIdentifier: pid_t
    /// The wait status, once reaped.
    private let status = Mutex<Int32?>(nil)

    public init(
        executable: String, arguments: [String] = [], environment: [String: String]? = nil, directory: String? = nil,
        stdin: Stdio = .inherit, stdout: Stdio = .inherit, stderr: Stdio = .inherit
    ) throws(SpawnError) {
        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        var stdio: [Int32] = [-2, -2, -2]
        for (slot, choice) in [stdin, stdout, stderr].enumerated() {
            switch choice {
            case .inherit: stdio[slot] = -2
            case .null: stdio[slot] = -1
            case .descriptor(let fd): stdio[slot] = fd
            case .file(let path):
                let fd = slot == 0 ? open(path, O_RDONLY | O_CLOEXEC) : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw SpawnError(executable: path, code: errno) }
                opened.append(fd)
                stdio[slot] = fd
            }
        }
        let argv = ([executable] + arguments).map { strdup($0) }
        defer { for p in argv { free(p) } }
        let envp = environment.map { $0.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } }
        defer { for p in envp ?? [] { free(p) } }
        var pid: pid_t = 0
        let rc = (argv + [nil]).withUnsafeBufferPointer { args in
            ((envp ?? []) + [nil]).withUnsafeBufferPointer { env in
                stdio.withUnsafeBufferPointer { fds in
                    evalengine_spawn(&pid, executable, args.baseAddress, envp == nil ? nil : env.baseAddress, directory, fds.baseAddress)
                }
            }
        }
        guard rc == 0 else { throw SpawnError(executable: executable, code: rc) }
        processIdentifier = pid
    }

    /// A pipe whose ends close on exec (a child gets one only as a `.descriptor`).
    public static func pipe() throws(SpawnError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard evalengine_pipe(&fds) == 0 else { throw SpawnError(executable: "a pipe", code: errno) }
        return (fds[0], fds[1])
    }

    /// Reaps the child if it has exited; its wait status then, nil while it runs.
    private func reap() -> Int32? {
        status.withLock { s in
            if let s { return s }
            var st: Int32 = 0
            while true {
                let r = waitpid(processIdentifier, &st, WNOHANG)
                if r == processIdentifier {
                    s = st
                    return st
                }
                if r == 0 { return nil }
                if errno == EINTR { continue }
                // ECHILD: not ours to wait for any more; it is gone, how is not known.
                s = 0x7F00
                return s
            }
        }
    }

    public var isRunning: Bool { reap() == nil }

    /// The exit code, or the signal that ended it; -1 while it runs.
    public var terminationStatus: Int32 {
        guard let st = reap() else { return -1 }
        return st & 0x7F == 0 ? (st >> 8) & 0xFF : st & 0x7F
    }

    public var terminationReason: TerminationReason {
        guard let st = reap() else { return .exit }
        return st & 0x7F == 0 ? .exit : .uncaughtSignal
    }

    /// Sends `signal` unless the child was already reaped (its pid may belong to another by then).
    public func send(_ signal: Int32) {
        status.withLock { s in
            if s == nil { _ = kill(processIdentifier, signal) }
        }
    }

    /// SIGTERM.
    public func terminate() { send(SIGTERM) }

    /// Blocks until the child has exited, and reaps it.
    public func waitUntilExit() {
        while reap() == nil {
            #if canImport(Glibc)
            // Waits for the exit without reaping (so `reap` stays the one place that does).
            var info = siginfo_t()
            if waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOWAIT) != 0 && errno != EINTR { usleep(1000) }
            #else
            usleep(1000)
            #endif
        }
    }

    /// Waits (without holding a thread) at most `timeout` seconds; the exit status, or nil if it still runs.
    public func exit(within timeout: Double) async -> Int32? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, min(timeout, 86_400)) * 1000))
        while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return isRunning ? nil : terminationStatus
    }

    /// SIGKILL, and the child reaped in the background once it is gone (no zombie is left behind).
    public func killAndReap() {
        send(SIGKILL)
        guard status.withLock({ $0 == nil }) else { return }
        DispatchQueue.global(qos: .utility).async { self.waitUntilExit() }
    }
}
