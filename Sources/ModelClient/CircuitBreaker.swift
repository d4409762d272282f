import Synchronization

/// Stops a run from sending to an endpoint that fails every request: after `fatalThreshold`
/// consecutive calls failed with an answer that no retry changes (401, 403, 404, 405: a bad key, a
/// bad model name, a bad path), or `failureThreshold` consecutive calls failed for any endpoint
/// reason after their retries, the breaker opens and later calls fail at once with the error that
/// opened it. After `probeAfterSeconds` one call is let through to probe; its success closes it.
///
/// One breaker per client, so per run: a bad key fails one run fast, never another run's calls.
public final class CircuitBreaker: Sendable {
    public struct Policy: Sendable {
        public var fatalThreshold = 3
        public var failureThreshold = 10
        public var probeAfterSeconds = 10.0
        public init() {}
    }

    private struct State {
        var consecutiveFatal = 0
        var consecutiveFailures = 0
        var openedBy: ModelCallError?
        var openedAt: ContinuousClock.Instant?
        var probing = false
        var rejected = 0
    }

    public let policy: Policy
    private let state = Mutex(State())

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Whether an error kind is an answer that retrying or waiting cannot change.
    static func isFatal(_ kind: String) -> Bool {
        ["http_401", "http_403", "http_404", "http_405", "redirected"].contains(kind)
    }

    /// Whether an error says something about the endpoint (not about one case or about us).
    static func countsAsFailure(_ kind: String) -> Bool {
        !["empty_output", "cancelled", "scorer_timeout"].contains(kind)
    }

    /// Nil when a call may go; otherwise the error to fail it with, at once.
    public func admit() -> ModelCallError? {
        state.withLock { s in
            guard let opened = s.openedBy, let at = s.openedAt else { return nil }
            if !s.probing, ContinuousClock.now - at >= .clampedSeconds(policy.probeAfterSeconds) {
                s.probing = true
                return nil
            }
            s.rejected += 1
            var e = opened
            e.attempts = 0
            e.rateLimited = 0
            e.retryable = false
            e.message = "not sent: the circuit breaker opened after \(describeThreshold(opened.kind)) (first: \(opened.message))"
            return e
        }
    }

    /// Records how a call that was admitted ended.
    public func record(_ error: ModelCallError?) {
        state.withLock { s in
            s.probing = false
            guard let error else {
                s = State(rejected: s.rejected)
                return
            }
            guard CircuitBreaker.countsAsFailure(error.kind) else { return }
            s.consecutiveFailures += 1
            s.consecutiveFatal = CircuitBreaker.isFatal(error.kind) ? s.consecutiveFatal + 1 : 0
            if s.openedBy != nil {
                s.openedAt = .now  // a failed probe: wait again
            } else if s.consecutiveFatal >= policy.fatalThreshold || s.consecutiveFailures >= policy.failureThreshold {
                s.openedBy = error
                s.openedAt = .now
            }
        }
    }

    /// Calls failed at once because the breaker was open.
    public var rejectedCalls: Int { state.withLock { $0.rejected } }

    /// The error that opened the breaker, while it is open.
    public var openError: ModelCallError? { state.withLock { $0.openedBy } }

    private func describeThreshold(_ kind: String) -> String {
        CircuitBreaker.isFatal(kind) ? "\(policy.fatalThreshold) consecutive \(kind) answers" : "\(policy.failureThreshold) consecutive failed calls"
    }
}
