import EvalCore
import NIOCore

/// Runs `body` and returns its value, or nil when `seconds` pass first; `body` is then cancelled.
/// One deadline over a whole exchange, where a library's own timeouts cover only part of it
/// (AsyncHTTPClient's the response head, Hummingbird's none of a request body).
public func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .clampedSeconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

extension TimeAmount {
    /// `seconds` as NIO's time amount, clamped like `Duration.clampedSeconds` (never traps).
    public static func clampedSeconds(_ seconds: Double) -> TimeAmount {
        let s = seconds.isNaN ? 0 : min(max(seconds, 0), OutsideNumber.maxSeconds)
        return .milliseconds(Int64((s * 1000).rounded()))
    }
}
