import CoreMetrics
import EvalCore
import Foundation
import ModelClient
import ResultStore
import Synchronization

/// Answers a case's request from the cache when it can, otherwise from the endpoint, sharing one
/// call among identical requests in flight; successful answers are written back through the
/// run's `StoreWriter`.
final class ResponseSource: Sendable {
    let client: EndpointClient
    let store: Store?
    let mode: CacheMode
    /// Entries older than this many seconds are misses.
    let ttl: Double?
    let writer: StoreWriter?
    let namespace: String
    private let flights = SingleFlight()
    /// Answers written to the writer but not yet committed: a duplicate arriving in that window
    /// must not miss the cache and pay for a second call.
    let uncommitted: UncommittedResponses
    private let counts = Mutex<(hits: Int, misses: Int, readErrors: Int)>((0, 0, 0))
    private let warn: @Sendable (String) -> Void

    init(client: EndpointClient, store: Store?, mode: CacheMode, ttl: Double?, writer: StoreWriter?, namespace: String = "",
         warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.uncommitted = writer?.uncommitted ?? UncommittedResponses()
        self.client = client
        self.store = store
        self.mode = store == nil ? .off : mode
        self.ttl = ttl
        self.writer = writer
        self.namespace = namespace
        self.warn = warn
    }

    var hits: Int { counts.withLock { $0.hits } }
    static var hitCounter: CoreMetrics.Counter { CoreMetrics.Counter(label: "evalengine_cache_requests_total", dimensions: [("result", "hit")]) }
    static var missCounter: CoreMetrics.Counter { CoreMetrics.Counter(label: "evalengine_cache_requests_total", dimensions: [("result", "miss")]) }
    var misses: Int { counts.withLock { $0.misses } }

    /// The cache key of a request to this source's endpoint.
    func cacheKey(body: JSONValue) -> [UInt8] {
        CacheKeys.response(endpointIdentity: client.cacheIdentity, model: client.endpoint.model, api: client.endpoint.api.rawValue, body: body, namespace: namespace)
    }

    /// The answer, and whether it came from the cache.
    func response(for request: ModelRequest) async throws(ModelCallError) -> (ModelResponse, cached: Bool) {
        // Written once, canonically: the cache key is taken over the very bytes that are sent.
        let body = client.canonicalBody(for: request)
        let key = CacheKeys.response(
            endpointIdentity: client.cacheIdentity, model: client.endpoint.model, api: client.endpoint.api.rawValue, canonicalBody: body, namespace: namespace)
        if mode.reads, let pending = uncommitted[key] {
            counts.withLock { $0.hits += 1 }
            ResponseSource.hitCounter.increment()
            return (pending, true)
        }
        if mode.reads, let store, writer?.mayHoldResponse(key) ?? true {
            do {
                if let bytes = try store.response(key, maxAge: ttl),
                    let json = try? JSONValue.parse(bytes: bytes), let cached = ModelResponse(cacheJSON: json)
                {
                    counts.withLock { $0.hits += 1 }
                    ResponseSource.hitCounter.increment()
                    return (cached, true)
                }
            } catch {
                // A damaged cache is a miss, never a wrong answer: say so once and call the endpoint.
                let first = counts.withLock { c -> Bool in
                    c.readErrors += 1
                    return c.readErrors == 1
                }
                if first { warn("warning: cache read failed, calling the endpoint instead: \(error)") }
            }
        }
        counts.withLock { $0.misses += 1 }
        if mode.reads { ResponseSource.missCounter.increment() }
        let result = await flights.run(key) { () async -> Result<ModelResponse, ModelCallError> in
            do throws(ModelCallError) {
                let r = try await self.client.complete(bytes: body, estimatedTokens: request.estimatedTokens)
                if self.mode.writes, let writer = self.writer {
                    var bytes: [UInt8] = []
                    r.cacheJSON.write(to: &bytes, sortedKeys: true)
                    if self.mode.reads {
                        // What a read of that row would give: the answer, with no attempts of its own.
                        var cached = r
                        cached.attempts = 0
                        cached.rateLimited = 0
                        self.uncommitted.insert(key, cached)
                    }
                    writer.enqueue(.response(key: key, value: bytes))
                }
                return .success(r)
            } catch {
                return .failure(error)  // errors are never cached
            }
        }
        // A caller that joined another's call made no HTTP attempts of its own.
        switch result.outcome {
        case .success(var r):
            if !result.leader {
                r.attempts = 0
                r.rateLimited = 0
            }
            return (r, false)
        case .failure(var e):
            if !result.leader {
                e.attempts = 0
                e.rateLimited = 0
            }
            throw e
        }
    }
}

/// Identical requests in flight at once share one call: the first caller makes it, the others
/// wait for its result.
final class SingleFlight: Sendable {
    typealias Outcome = Result<ModelResponse, ModelCallError>
    private let waiting = Mutex<[[UInt8]: [CheckedContinuation<Outcome?, Never>]]>([:])

    /// The outcome, and whether this caller made the call (`leader`) or shared another's.
    func run(_ key: [UInt8], _ operation: () async -> Outcome) async -> (outcome: Outcome, leader: Bool) {
        while true {
            let leader = waiting.withLock { m -> Bool in
                if m[key] != nil { return false }
                m[key] = []
                return true
            }
            if leader {
                let outcome = await operation()
                let followers = waiting.withLock { $0.removeValue(forKey: key) ?? [] }
                for f in followers { f.resume(returning: outcome) }
                return (outcome, true)
            }
            let shared: Outcome? = await withCheckedContinuation { continuation in
                let joined = waiting.withLock { m -> Bool in
                    guard m[key] != nil else { return false }
                    m[key]!.append(continuation)
                    return true
                }
                // The leader finished between our look and our join: try again.
                if !joined { continuation.resume(returning: nil) }
            }
            if let shared { return (shared, false) }
        }
    }
}

/// Responses queued for the cache and not yet committed, by key.
final class UncommittedResponses: Sendable {
    private let map = Mutex<[[UInt8]: ModelResponse]>([:])

    subscript(key: [UInt8]) -> ModelResponse? { map.withLock { $0[key] } }
    func insert(_ key: [UInt8], _ r: ModelResponse) { map.withLock { $0[key] = r } }
    func remove(_ keys: [[UInt8]]) { map.withLock { m in for k in keys { m.removeValue(forKey: k) } } }
}

/// Group commit for a run: writes queue up while the previous transaction commits, and each
/// transaction takes everything queued, so durability costs one short transaction per batch
/// whatever the case rate.
final class StoreWriter: Sendable {
    let store: Store
    let uncommitted = UncommittedResponses()
    /// With a response cache that was empty when the run began (a fresh file, as in a new pod),
    /// the first 8 bytes of every key this run wrote: a key not among them is a miss without a
    /// read (two SQLite lock calls and a page lookup per case). Only for a CLI run's own store
    /// (`.run`): the service's jobs share theirs, and one job must see what another committed.
    /// Another process writing the same fresh file meanwhile is not seen: at worst a call is paid twice.
    private let tracksWritten: Bool
    private let written = Mutex<Set<UInt64>>([])
    private let pending = Mutex<[StoreWrite]>([])
    private let failure = Mutex<SQLiteError?>(nil)
    private let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    init(store: Store) {
        self.store = store
        tracksWritten = store.tuning == .run && (try? store.hasResponses()) == false
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func enqueue(_ write: StoreWrite) {
        if tracksWritten, case .response(let key, _) = write { written.withLock { _ = $0.insert(StoreWriter.prefix(key)) } }
        pending.withLock { $0.append(write) }
        signal.yield()
    }

    /// False when the cache cannot hold an answer for `key` (see `written`): no need to look.
    func mayHoldResponse(_ key: [UInt8]) -> Bool {
        guard tracksWritten else { return true }
        return written.withLock { $0.contains(StoreWriter.prefix(key)) }
    }

    private static func prefix(_ key: [UInt8]) -> UInt64 {
        var v: UInt64 = 0
        for b in key.prefix(8) { v = v << 8 | UInt64(b) }
        return v
    }

    /// Writes a transaction waits for before it commits a smaller batch (see `run`).
    static let batchTarget = 256
    /// How long a transaction waits for more writes: at most this much more finished work is at
    /// risk from a kill -9 than what is in flight anyway.
    static let window = Duration.milliseconds(5)

    /// Commits batches until `finish()`; then commits what is left. A batch smaller than
    /// `batchTarget` waits up to `window` for more: every transaction rewrites the pages it
    /// touches (b-tree leaves, indexes, the WAL header), so at thousands of cases a second ten
    /// rows a commit wrote about four times the bytes of fifty.
    func run() async {
        for await _ in signals {
            if pending.withLock({ $0.count }) < StoreWriter.batchTarget { try? await Task.sleep(for: StoreWriter.window) }
            await flush()
        }
        await flush()
    }

    /// Stops `run()` after a last commit.
    func finish() { signal.finish() }

    /// Commits everything queued now, on the store's own thread (a write may wait for another
    /// process's lock: never on a thread of the cooperative pool).
    func flush() async {
        let batch = pending.withLock { p -> [StoreWrite] in
            let b = p
            p.removeAll(keepingCapacity: true)
            return b
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.writing { store throws(SQLiteError) in try store.write(batch) }
            uncommitted.remove(batch.compactMap { if case .response(let key, _) = $0 { return key } else { return nil } })
        } catch {
            failure.withLock { if $0 == nil { $0 = error } }
        }
    }

    /// The first write failure, if any (e.g. a full disk).
    var error: SQLiteError? { failure.withLock { $0 } }
}
