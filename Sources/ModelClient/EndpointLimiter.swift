import DequeModule
import EvalCore

/// Admission control for one endpoint, shared by every run in the process that calls it:
/// a requests-per-minute bucket, a tokens-per-minute bucket, a cap on requests in flight, and a
/// pause when the endpoint said `Retry-After` or reported its quota used up.
///
/// A caller waits in a FIFO queue holding nothing; when it is admitted it takes a request token,
/// its estimated tokens and an in-flight slot at the same instant and sends at once, so what
/// reaches the endpoint conforms to the buckets (waiting first for a slot and then for a token, or
/// the other way round, lets bursts through).
public actor EndpointLimiter {
    public struct Limits: Sendable {
        public var requestsPerMinute: Double?
        public var tokensPerMinute: Double?
        public var maxInFlight: Int
        /// Bucket depth, in seconds of rate.
        public var burstSeconds: Double
        /// The longest any pause or token debt may hold admission (the endpoint's
        /// `max_retry_after_seconds`): one answer can never stop the endpoint for longer.
        public var maxPauseSeconds: Double

        public init(requestsPerMinute: Double? = nil, tokensPerMinute: Double? = nil, maxInFlight: Int = 64, burstSeconds: Double = 0.5, maxPauseSeconds: Double = 120) {
            self.requestsPerMinute = requestsPerMinute
            self.tokensPerMinute = tokensPerMinute
            self.maxInFlight = max(1, maxInFlight)
            self.burstSeconds = burstSeconds
            self.maxPauseSeconds = maxPauseSeconds
        }

        public init(_ e: EndpointConfig) {
            self.init(requestsPerMinute: e.requestsPerMinute, tokensPerMinute: e.tokensPerMinute, maxInFlight: e.maxInFlight, burstSeconds: e.burstSeconds,
                      maxPauseSeconds: e.retry.maxRetryAfterSeconds)
        }
    }

    private struct Bucket {
        let ratePerSecond: Double
        let capacity: Double
        var level: Double

        init(perMinute: Double, burstSeconds: Double, minimumCapacity: Double) {
            ratePerSecond = perMinute / 60
            capacity = max(minimumCapacity, ratePerSecond * burstSeconds)
            level = capacity
        }

        mutating func refill(_ seconds: Double) { level = min(capacity, level + seconds * ratePerSecond) }

        /// A request larger than the whole bucket goes when the bucket is full (and leaves it in debt).
        func needed(_ amount: Double) -> Double { min(amount, capacity) }

        func secondsUntil(_ amount: Double) -> Double {
            let missing = needed(amount) - level
            return missing <= 0 ? 0 : missing / ratePerSecond
        }
    }

    private struct Waiter {
        let id: UInt64
        let tokens: Double
        let continuation: CheckedContinuation<Void, any Error>
        let enqueued: ContinuousClock.Instant
    }

    public let limits: Limits
    private var requests: Bucket?
    private var tokens: Bucket?
    private var inFlight = 0
    private var pausedUntil: ContinuousClock.Instant?
    /// Requests the endpoint said it will still take in its current window (its
    /// `x-ratelimit-remaining-requests`, less what is in flight); nil when it does not say. A
    /// gateway's fixed window (LiteLLM) then fills exactly instead of being overrun by a burst.
    private var windowBudget: Int?
    private var lastRefill: ContinuousClock.Instant
    private var waiters = Deque<Waiter>()
    private var nextWaiterID: UInt64 = 0
    private var timer: Task<Void, Never>?
    private var timerDeadline: ContinuousClock.Instant?
    private let clock = ContinuousClock()

    /// Seconds callers spent waiting for admission, summed (for metrics and the report).
    public private(set) var totalWaitSeconds = 0.0
    /// Peak number of requests in flight seen.
    public private(set) var peakInFlight = 0

    public init(_ limits: Limits) {
        self.limits = limits
        if let rpm = limits.requestsPerMinute { requests = Bucket(perMinute: rpm, burstSeconds: limits.burstSeconds, minimumCapacity: 1) }
        if let tpm = limits.tokensPerMinute { tokens = Bucket(perMinute: tpm, burstSeconds: limits.burstSeconds, minimumCapacity: 1) }
        lastRefill = clock.now
    }

    /// Waits until a request costing `estimatedTokens` may be sent, then holds an in-flight slot
    /// until `release`. Throws `CancellationError` if the calling task is cancelled while waiting.
    public func acquire(estimatedTokens: Int) async throws {
        let cost = Double(estimatedTokens)
        let now = clock.now
        refill(now)
        if waiters.isEmpty && canAdmit(cost, now) {
            admit(cost)
            return
        }
        nextWaiterID &+= 1
        let id = nextWaiterID
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                waiters.append(Waiter(id: id, tokens: cost, continuation: continuation, enqueued: now))
                dispatch()
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    /// Frees the caller's in-flight slot and corrects the token bucket with what the call really used.
    /// The debt one answer can leave is bounded by `maxPauseSeconds` of rate: a reported
    /// `total_tokens` of 1e9 against a small tokens-per-minute budget must not stop the endpoint for days.
    /// `answered` is true for a successful answer; `remainingRequests` is what its headers said is
    /// left of the endpoint's window.
    public func release(estimatedTokens: Int, actualTokens: Int?, answered: Bool = false, remainingRequests: Int? = nil) {
        inFlight -= 1
        if answered {
            if let r = remainingRequests {
                // The others in flight may not have been counted yet: they spend from it too.
                windowBudget = max(0, r - inFlight)
                if windowBudget == 0 && inFlight == 0 {
                    // Spent, and no answer on its way to say more: wait a little, then probe with one.
                    pause(seconds: RateLimitHeaders.probePauseSeconds)
                }
            } else {
                windowBudget = nil
            }
        }
        if let actualTokens, var t = tokens {
            t.level += Double(estimatedTokens) - Double(actualTokens)
            t.level = max(t.level, -t.ratePerSecond * limits.maxPauseSeconds)
            tokens = t
        }
        dispatch()
    }

    /// Stops admitting anyone for `seconds` (the endpoint answered `Retry-After`, or its
    /// `x-ratelimit-remaining-*` reached zero).
    /// Never longer than `limits.maxPauseSeconds`, whatever it is asked (NaN and negatives are no pause).
    public func pause(seconds: Double) {
        guard seconds > 0 else { return }
        let until = clock.now.advanced(by: .clampedSeconds(min(seconds, limits.maxPauseSeconds)))
        if pausedUntil.map({ until > $0 }) ?? true { pausedUntil = until }
        // After a pause one request goes first: its answer says what the endpoint takes again.
        windowBudget = 1
        dispatch()
    }

    /// Requests currently holding a slot.
    public var currentInFlight: Int { inFlight }

    /// Callers waiting for admission.
    public var waitingCount: Int { waiters.count }

    private func cancelWaiter(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let w = waiters.remove(at: index)
        w.continuation.resume(throwing: CancellationError())
        dispatch()
    }

    private func refill(_ now: ContinuousClock.Instant) {
        let elapsed = seconds(now - lastRefill)
        guard elapsed > 0 else { return }
        lastRefill = now
        requests?.refill(elapsed)
        tokens?.refill(elapsed)
    }

    private func canAdmit(_ cost: Double, _ now: ContinuousClock.Instant) -> Bool {
        if inFlight >= limits.maxInFlight { return false }
        if let p = pausedUntil, p > now { return false }
        if let b = windowBudget, b <= 0 { return false }
        if let r = requests, r.level < r.needed(1) { return false }
        if let t = tokens, t.level < t.needed(cost) { return false }
        return true
    }

    private func admit(_ cost: Double) {
        inFlight += 1
        if let b = windowBudget { windowBudget = b - 1 }
        peakInFlight = max(peakInFlight, inFlight)
        requests?.level -= 1
        tokens?.level -= cost
    }

    /// Admits waiters in order while they fit; otherwise arms a timer for when the head will fit.
    private func dispatch() {
        let now = clock.now
        refill(now)
        // A spent window with nothing in flight will hear no answer that says more: one request
        // probes it. (A probe after a pause that failed without an answer — a 500, a cut
        // connection — left the budget at 0 with nothing in flight: the endpoint stopped for good.)
        if let b = windowBudget, b <= 0, inFlight == 0 { windowBudget = 1 }
        while let head = waiters.first, canAdmit(head.tokens, now) {
            waiters.removeFirst()
            admit(head.tokens)
            totalWaitSeconds += seconds(now - head.enqueued)
            head.continuation.resume()
        }
        guard let head = waiters.first, inFlight < limits.maxInFlight else { return }
        // Blocked by a spent window with answers still on their way: their release dispatches again.
        if let b = windowBudget, b <= 0, inFlight > 0, pausedUntil.map({ $0 <= now }) ?? true { return }
        // Blocked by time (a bucket or a pause), not by a slot: wake when it will have refilled.
        var wait = 0.0
        if let p = pausedUntil, p > now { wait = max(wait, seconds(p - now)) }
        if let r = requests { wait = max(wait, r.secondsUntil(1)) }
        if let t = tokens { wait = max(wait, t.secondsUntil(head.tokens)) }
        let deadline = now.advanced(by: .clampedSeconds(max(wait, 0.0005)))
        if let current = timerDeadline, current <= deadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        // The timer belongs to the limiter (shared by runs), not to any run, so it is its own task.
        timer = Task { [weak self] in
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }  // replaced by an earlier timer
            await self?.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = nil
        dispatch()
    }

    private func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}

/// One limiter per endpoint name for the whole process, so two runs against the same endpoint
/// share its budget.
public final class LimiterRegistry: Sendable {
    private let limiters = Mutex<[String: EndpointLimiter]>([:])

    public init() {}

    /// The endpoint's limiter, created on first use.
    public func limiter(for endpoint: EndpointConfig) -> EndpointLimiter {
        limiters.withLock { map in
            if let l = map[endpoint.name] { return l }
            let l = EndpointLimiter(.init(endpoint))
            map[endpoint.name] = l
            return l
        }
    }
}

import Synchronization
