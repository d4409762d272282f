import Synchronization

/// Stops a run from sending to an endpoint that fails every request: after `fatalThreshold`
/// consecutive calls failed with an answer that no retry changes (401, 403, 404, 405, a redirect:
/// a bad key, a bad model name, a bad path), or `failureThreshold` consecutive calls failed for
/// any endpoint reason after their retries, the breaker opens and later calls fail at once with
/// the error that opened it. After `probeAfterSeconds` one call is let through to probe; its
/// success closes it.
///
/// Slow start: until the endpoint has answered one call successfully, and while its last answer
/// was one of those no retry changes, one call at a time is sent. Otherwise a run of 256 cases
/// in flight would send all 256 with a bad key before the first 401 came back.
///
/// One breaker per client, so per run: a bad key fails one run fast, never another run's calls.
public final class CircuitBreaker: Sendable {
    public struct Policy: Sendable {
        public var fatalThreshold = 3
        public var failureThreshold = 10
        public var probeAfterSeconds = 10.0
        public init() {}
    }

    /// What `admit` decided for one call.
    public enum Admission: Sendable {
        /// Send it; hand `slowStart` back to `record`.
        case go(slowStart: Bool)
        /// Do not send it: fail the call with this error.
        case refused(ModelCallError)
    }

    private struct State {
        var consecutiveFatal = 0
        var consecutiveFailures = 0
        var openedBy: ModelCallError?
        var openedAt: ContinuousClock.Instant?
        var probing = false
        var rejected = 0
        /// Slow start is on until a success, and again after an answer no retry changes.
        var slowStart = true
        var verified = false
        var slowStartInFlight = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var nextWaiter: UInt64 = 0
    }

    public let policy: Policy
    private let state = Mutex(State())

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Whether an error kind is an answer that retrying or waiting cannot change.
    static func isFatal(_ code: ModelCallError.Code) -> Bool {
        code == .redirected || [401, 403, 404, 405].contains(code.httpStatus ?? 0)
    }

    /// Whether an error says something about the endpoint (not about one case or about us).
    static func countsAsFailure(_ code: ModelCallError.Code) -> Bool {
        code != .emptyOutput && code != .cancelled
    }

    /// Waits while slow start holds another call in flight, then says whether this call may go.
    public func admit() async -> Admission {
        while true {
            let id: UInt64? = state.withLock { s in
                if s.openedBy != nil || !s.slowStart || s.slowStartInFlight == 0 { return nil }
                s.nextWaiter &+= 1
                return s.nextWaiter
            }
            guard let id else { break }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s -> Bool in
                        // Released (or cancelled) between the check and here: do not wait.
                        if Task.isCancelled || s.openedBy != nil || !s.slowStart || s.slowStartInFlight == 0 { return true }
                        s.waiters.append((id, c))
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                    guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return s.waiters.remove(at: i).continuation
                }
                c?.resume()
            }
            if Task.isCancelled {
                return .refused(ModelCallError(code: .cancelled, message: "cancelled while waiting for the endpoint's first answer", retryable: false,
                                               attempts: 0, rateLimited: 0))
            }
        }
        return state.withLock { s -> Admission in
            if let opened = s.openedBy, let at = s.openedAt {
                if !s.probing, ContinuousClock.now - at >= .clampedSeconds(policy.probeAfterSeconds) {
                    s.probing = true
                    return .go(slowStart: false)
                }
                s.rejected += 1
                var e = opened
                e.attempts = 0
                e.rateLimited = 0
                e.retryable = false
                e.message = "not sent: the circuit breaker opened after \(describeThreshold(opened.code)) (first: \(opened.message))"
                return .refused(e)
            }
            if s.slowStart {
                s.slowStartInFlight += 1
                return .go(slowStart: true)
            }
            return .go(slowStart: false)
        }
    }

    /// Records how a call that was admitted ended.
    public func record(_ error: ModelCallError?, slowStart: Bool = false) {
        let wake = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if slowStart { s.slowStartInFlight -= 1 }
            s.probing = false
            if let error {
                if CircuitBreaker.countsAsFailure(error.code) {
                    s.consecutiveFailures += 1
                    let fatal = CircuitBreaker.isFatal(error.code)
                    s.consecutiveFatal = fatal ? s.consecutiveFatal + 1 : 0
                    // Only an answer no retry changes keeps (or puts back) one call at a time.
                    s.slowStart = fatal
                    if s.openedBy != nil {
                        s.openedAt = .now  // a failed probe: wait again
                    } else if s.consecutiveFatal >= policy.fatalThreshold || s.consecutiveFailures >= policy.failureThreshold {
                        s.openedBy = error
                        s.openedAt = .now
                    }
                }
            } else {
                s.consecutiveFatal = 0
                s.consecutiveFailures = 0
                s.openedBy = nil
                s.openedAt = nil
                s.verified = true
                s.slowStart = false
            }
            let w = s.waiters.map(\.continuation)
            s.waiters.removeAll()
            return w
        }
        for c in wake { c.resume() }
    }

    /// Calls failed at once because the breaker was open.
    public var rejectedCalls: Int { state.withLock { $0.rejected } }

    /// The error that opened the breaker, while it is open.
    public var openError: ModelCallError? { state.withLock { $0.openedBy } }

    private func describeThreshold(_ code: ModelCallError.Code) -> String {
        CircuitBreaker.isFatal(code) ? "\(policy.fatalThreshold) consecutive \(code) answers" : "\(policy.failureThreshold) consecutive failed calls"
    }
}
