import EvalCore
import Foundation
import Histogram
import ModelClient

/// A capacity test's load profile (`profiles/ramp.yaml` and friends): a schedule of open-loop
/// request rates, and the latency objective the knee is judged by.
public struct LoadProfile: Sendable {
    public struct Step: Sendable, Hashable {
        public var rate: Double
        public var seconds: Double
    }

    public var name: String
    public var steps: [Step]
    /// The knee is the highest rate whose p99 stays under this.
    public var sloP99Ms: Double
    /// Requests still unanswered this long after their scheduled time count as errors.
    public var timeoutSeconds: Double
    /// The prompt each request sends.
    public var prompt: String

    static let knownFields: Set<String> = ["name", "kind", "steps", "from", "to", "step", "step_seconds", "rate", "seconds", "base", "spike", "spike_seconds",
                                           "slo_p99_ms", "timeout_seconds", "prompt", "description"]

    /// Decodes a profile: `kind: steady` (rate, seconds), `ramp` (from, to, step, step_seconds),
    /// `spike` (base, spike, seconds, spike_seconds) or explicit `steps: [{rate, seconds}]`.
    /// Bounded: at most 100 steps, 10 minutes and 200,000 requests in all.
    public static func decode(_ json: JSONValue) throws(FieldError) -> LoadProfile {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a load profile must be an object") }
        for key in o.keys.sorted() where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        func number(_ k: String, min: Double = 0) throws(FieldError) -> Double? {
            guard let v = o[k], v != .null else { return nil }
            guard let n = v.numberValue, n.isFinite, n > min else { throw FieldError(field: k, message: "must be a number > \(format(min))") }
            return n
        }
        /// Bounded: it becomes a Duration in milliseconds (1e300 would trap the conversion).
        func timeout() throws(FieldError) -> Double {
            guard let n = try number("timeout_seconds") else { return 30 }
            guard n <= 3600 else { throw FieldError(field: "timeout_seconds", message: "must be a number > 0 and at most 3600") }
            return n
        }
        func required(_ k: String) throws(FieldError) -> Double {
            guard let n = try number(k) else { throw FieldError(field: k, message: "required for this kind of profile") }
            return n
        }
        var steps: [Step] = []
        let kind = o["kind"]?.stringValue ?? (o["steps"] != nil ? "steps" : "steady")
        switch kind {
        case "steady":
            steps = [Step(rate: try required("rate"), seconds: try required("seconds"))]
        case "ramp":
            let from = try required("from"), to = try required("to"), step = try required("step"), seconds = try required("step_seconds")
            guard to >= from else { throw FieldError(field: "to", message: "must be >= from") }
            var r = from
            while r <= to + 1e-9 {
                steps.append(Step(rate: r, seconds: seconds))
                r += step
                if steps.count > 100 { throw FieldError(field: "step", message: "more than 100 steps") }
            }
        case "spike":
            let base = try required("base"), spike = try required("spike"), seconds = try required("seconds")
            let spikeSeconds = try number("spike_seconds") ?? seconds / 3
            steps = [Step(rate: base, seconds: seconds), Step(rate: spike, seconds: spikeSeconds), Step(rate: base, seconds: seconds)]
        case "steps":
            for (i, s) in (o["steps"]?.arrayValue ?? []).enumerated() {
                guard let r = s["rate"]?.numberValue, r > 0, let d = s["seconds"]?.numberValue, d > 0 else {
                    throw FieldError(field: "steps[\(i)]", message: "needs rate > 0 and seconds > 0")
                }
                steps.append(Step(rate: r, seconds: d))
            }
            guard !steps.isEmpty else { throw FieldError(field: "steps", message: "needs at least one step") }
        default:
            throw FieldError(field: "kind", message: "unknown kind '\(kind)' (steady, ramp, spike, or a steps list)")
        }
        let total = steps.reduce(0) { $0 + $1.seconds }
        let requests = steps.reduce(0) { $0 + $1.rate * $1.seconds }
        guard steps.count <= 100, total <= 600, requests <= 200_000 else {
            throw FieldError(field: "steps", message: "a capacity run is bounded: at most 100 steps, 600 s and 200,000 requests (this one: \(steps.count) steps, \(format(total)) s, \(format(requests)) requests)")
        }
        return LoadProfile(name: o["name"]?.stringValue ?? kind, steps: steps, sloP99Ms: try number("slo_p99_ms") ?? 1000,
                           timeoutSeconds: try timeout(), prompt: o["prompt"]?.stringValue ?? "What is 2 + 2?")
    }
}

/// What one step measured.
public struct CapacityStep: Sendable {
    public var offeredRate: Double
    public var seconds: Double
    public var sent: Int
    public var ok: Int
    public var errors: Int
    /// Answered per second of the step.
    public var throughput: Double
    /// Latency from each request's scheduled time (so a slow target cannot hide its queue:
    /// no coordinated omission), HdrHistogram with 3 significant digits.
    public var p50Ms: Double?
    public var p90Ms: Double?
    public var p99Ms: Double?
    public var maxMs: Double?
    public var errorKinds: [String: Int]
    /// Time to first token of the step's streamed answers (endpoints with `stream: true`),
    /// from each request's send, HdrHistogram with 3 significant digits.
    public var ttftP50Ms: Double?
    public var ttftP90Ms: Double?
    public var ttftP99Ms: Double?
    /// Median over the step's streamed answers of each one's median gap between tokens.
    public var interTokenP50Ms: Double?
}

/// The result of a capacity run.
public struct CapacityResult: Sendable {
    public var profile: LoadProfile
    public var target: String
    public var steps: [CapacityStep]
    /// The highest offered rate whose p99 stayed under the SLO with no errors (nil: not even the first).
    public var kneeRate: Double?
}

/// Open-loop load: requests are sent at their scheduled times whatever the target's answers,
/// each step's latencies go into an HdrHistogram measured from the scheduled time, and the knee is
/// the highest rate that met the SLO. In-flight requests are bounded (`maxInFlight`); a request
/// that would exceed it is counted as an error (`overload`), never delayed.
public struct CapacityRunner: Sendable {
    /// Sends one request; returns an error kind or nil.
    public typealias Send = @Sendable () async -> String?
    /// As `Send`, with the answer's time to first token when it was streamed.
    public typealias TimedSend = @Sendable () async -> (error: String?, stream: StreamTiming?)
    public let send: TimedSend
    public let maxInFlight: Int
    /// The send ends itself by the profile's timeout (an endpoint client with that deadline), so
    /// no timer races it: at thousands of requests a second, a task and a sleep per request were
    /// what the load generator spent its CPU on.
    public let sendKeepsTheTimeout: Bool

    public init(maxInFlight: Int = 4096, send: @escaping Send) {
        self.send = { (await send(), nil) }
        self.maxInFlight = maxInFlight
        sendKeepsTheTimeout = false
    }

    public init(maxInFlight: Int = 4096, sendKeepsTheTimeout: Bool = false, timedSend: @escaping TimedSend) {
        self.send = timedSend
        self.maxInFlight = maxInFlight
        self.sendKeepsTheTimeout = sendKeepsTheTimeout
    }

    /// A target that is a configured endpoint: one chat completion per request, through a client
    /// with no limiter of our own (we measure the endpoint, not our throttle) and no retries.
    public static func endpoint(_ client: EndpointClient, prompt: String) -> TimedSend {
        let body = client.body(for: ModelRequest(messages: [ChatMessage(role: "user", content: prompt)], params: {
            var p = ModelParams()
            p.maxTokens = 16
            return p
        }()))
        return {
            do throws(ModelCallError) {
                let r = try await client.complete(body: body, estimatedTokens: 20)
                return (nil, r.stream)
            } catch {
                return (error.kind, nil)
            }
        }
    }

    /// Per-step measurements, written by the requests as they finish.
    final class Recorder: @unchecked Sendable {
        // Guarded by `lock`; requests finish on many threads.
        private let lock = NSLock()
        private var histograms: [Histogram<UInt64>]
        private var ttfts: [Histogram<UInt64>]
        private var gaps: [[Double]]
        private(set) var ok: [Int]
        private(set) var errors: [[String: Int]]
        private var inFlight = 0

        init(steps: Int) {
            histograms = (0..<steps).map { _ in Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three) }
            ttfts = histograms
            gaps = [[Double]](repeating: [], count: steps)
            ok = [Int](repeating: 0, count: steps)
            errors = [[String: Int]](repeating: [:], count: steps)
        }

        /// Takes an in-flight slot unless `limit` are taken.
        func admit(limit: Int) -> Bool {
            lock.lock(); defer { lock.unlock() }
            guard inFlight < limit else { return false }
            inFlight += 1
            return true
        }

        func error(_ step: Int, _ kind: String, release: Bool) {
            lock.lock(); defer { lock.unlock() }
            errors[step][kind, default: 0] += 1
            if release { inFlight -= 1 }
        }

        func success(_ step: Int, micros: UInt64, stream: StreamTiming?) {
            lock.lock(); defer { lock.unlock() }
            ok[step] += 1
            _ = histograms[step].record(max(1, micros))
            // Range-checked before the integer conversion: the figure comes from the stream's clock.
            if let t = stream?.ttftMs, t.isFinite, t >= 0, t < 3_600_000 { _ = ttfts[step].record(max(1, UInt64(t * 1000))) }
            if let g = stream?.interTokenP50Ms, g.isFinite, g >= 0 { gaps[step].append(g) }
            inFlight -= 1
        }

        func gapMedian(_ step: Int) -> Double? {
            lock.lock(); defer { lock.unlock() }
            return Statistics.percentile(sorted: gaps[step].sorted(), 0.5)
        }

        func histogram(_ step: Int) -> Histogram<UInt64> {
            lock.lock(); defer { lock.unlock() }
            return histograms[step]
        }

        func ttftHistogram(_ step: Int) -> Histogram<UInt64> {
            lock.lock(); defer { lock.unlock() }
            return ttfts[step]
        }
    }

    public func run(_ profile: LoadProfile, target: String, progress: @Sendable (Int, Double) -> Void = { _, _ in }) async -> CapacityResult {
        let clock = ContinuousClock()
        let recorder = Recorder(steps: profile.steps.count)
        var sent = [Int](repeating: 0, count: profile.steps.count)
        let timeout = Duration.milliseconds(Int64(profile.timeoutSeconds * 1000))
        let send = self.send
        let limit = maxInFlight
        let selfTimed = sendKeepsTheTimeout
        await withDiscardingTaskGroup { group in
            var stepStart = clock.now + .milliseconds(50)
            for (i, step) in profile.steps.enumerated() {
                progress(i, step.rate)
                let n = Int((step.rate * step.seconds).rounded())
                for k in 0..<n {
                    let scheduled = stepStart + .nanoseconds(Int64(Double(k) / step.rate * 1e9))
                    // Requests already due go at once: a timer per request at high rates costs more
                    // than the sub-millisecond it would wait.
                    if scheduled - clock.now > .microseconds(200) { try? await Task.sleep(until: scheduled, clock: clock) }
                    sent[i] += 1
                    guard recorder.admit(limit: limit) else {
                        recorder.error(i, "overload", release: false)
                        continue
                    }
                    group.addTask {
                        let (outcome, timing) = selfTimed ? await send() : await withTaskGroup(of: (error: String?, stream: StreamTiming?)?.self) { race -> (String?, StreamTiming?) in
                            race.addTask { await send() }
                            race.addTask {
                                try? await Task.sleep(until: scheduled + timeout, clock: clock)
                                return Task.isCancelled ? nil : ("timeout", nil)
                            }
                            var first: (error: String?, stream: StreamTiming?)?
                            while first == nil, let r = await race.next() { first = r }
                            race.cancelAll()
                            return first.map { ($0.error, $0.stream) } ?? ("cancelled", nil)
                        }
                        // Latency from the scheduled time: a target that falls behind shows its queue.
                        let d = clock.now - scheduled
                        let micros = UInt64(max(0, d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000))
                        if let outcome { recorder.error(i, outcome, release: true) } else { recorder.success(i, micros: micros, stream: timing) }
                    }
                }
                stepStart += .nanoseconds(Int64(step.seconds * 1e9))
            }
        }
        var steps: [CapacityStep] = []
        for (i, s) in profile.steps.enumerated() {
            let h = recorder.histogram(i)
            let has = h.totalCount > 0
            func ms(_ p: Double) -> Double? { has ? Double(h.valueAtPercentile(p)) / 1000 : nil }
            let t = recorder.ttftHistogram(i)
            func ttft(_ p: Double) -> Double? { t.totalCount > 0 ? Double(t.valueAtPercentile(p)) / 1000 : nil }
            steps.append(CapacityStep(offeredRate: s.rate, seconds: s.seconds, sent: sent[i], ok: recorder.ok[i], errors: recorder.errors[i].values.reduce(0, +),
                                      throughput: Double(recorder.ok[i]) / s.seconds, p50Ms: ms(50), p90Ms: ms(90), p99Ms: ms(99),
                                      maxMs: has ? Double(h.max) / 1000 : nil, errorKinds: recorder.errors[i],
                                      ttftP50Ms: ttft(50), ttftP90Ms: ttft(90), ttftP99Ms: ttft(99), interTokenP50Ms: recorder.gapMedian(i)))
        }
        let good = steps.filter { $0.errors == 0 && ($0.p99Ms ?? .infinity) <= profile.sloP99Ms }
        return CapacityResult(profile: profile, target: target, steps: steps, kneeRate: good.map(\.offeredRate).max())
    }
}
