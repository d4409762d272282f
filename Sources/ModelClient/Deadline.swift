import EvalCore
import NIOCore
import Synchronization

/// Runs `body` and returns its value, or nil when `seconds` pass first; `body` is then cancelled.
/// One deadline over a whole exchange, where a library's own timeouts cover only part of it
/// (AsyncHTTPClient's the response head, Hummingbird's none of a request body).
///
/// The deadline is kept by `DeadlineScheduler`, not by a `Task.sleep` per call: a cancelled sleep
/// keeps its timer (≈ 420 bytes) until the time it was due, so at 6,000 calls a second with a 120 s
/// timeout a run held 300 MB of dead timers (issue 15: memory grew ~1.2 KB per case).
public func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    let scheduler = DeadlineScheduler.shared
    let id = scheduler.register(until: ContinuousClock.now.advanced(by: .clampedSeconds(seconds)))
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            let due = await withTaskCancellationHandler {
                await scheduler.wait(id)
            } onCancel: {
                scheduler.release(id)
            }
            // Released early means cancelled (or the body won): that is not a timeout.
            guard due else { throw CancellationError() }
            return nil
        }
        defer {
            scheduler.release(id)
            group.cancelAll()
        }
        return try await group.next() ?? nil
    }
}

/// Many deadlines on one timer: each deadline is an entry; its waiter parks a continuation on it;
/// a single ticking task (alive only while there are entries) resumes the ones that are due; an
/// entry whose work finished first is released, resuming its waiter at once and leaving nothing
/// scheduled. An entry is removed exactly once (due or released), so nothing accumulates.
final class DeadlineScheduler: Sendable {
    static let shared = DeadlineScheduler()
    /// How often due deadlines are looked for: the resolution of every deadline.
    static let tick = Duration.milliseconds(20)

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Bool, Never>?
        /// Set when the ticker found it due before its waiter parked.
        var due = false
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var ticking = false
    }

    private let state = Mutex(State())

    /// A new deadline; `wait` returns once it has passed, or once `release` was called.
    func register(until deadline: ContinuousClock.Instant) -> UInt64 {
        let (id, startTicking) = state.withLock { s -> (UInt64, Bool) in
            s.nextID &+= 1
            s.entries[s.nextID] = Entry(deadline: deadline)
            let start = !s.ticking
            s.ticking = true
            return (s.nextID, start)
        }
        // The ticker serves every run's deadlines in the process, so it is a task of its own.
        if startTicking { Task.detached { await self.runTicks() } }
        return id
    }

    /// True when the deadline passed; false when `release` ended the wait first.
    func wait(_ id: UInt64) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let early = state.withLock { s -> Bool? in
                guard let entry = s.entries[id] else { return false }  // released before we parked
                if entry.due {
                    s.entries.removeValue(forKey: id)
                    return true
                }
                s.entries[id]!.continuation = c
                return nil
            }
            if let early { c.resume(returning: early) }
        }
    }

    /// Ends deadline `id` now (its work finished, or it was cancelled); a no-op the second time.
    func release(_ id: UInt64) {
        let c = state.withLock { s in s.entries.removeValue(forKey: id)?.continuation }
        c?.resume(returning: false)
    }

    private func runTicks() async {
        while true {
            try? await Task.sleep(for: DeadlineScheduler.tick)
            let now = ContinuousClock.now
            let (due, stop) = state.withLock { s -> ([CheckedContinuation<Bool, Never>], Bool) in
                var due: [CheckedContinuation<Bool, Never>] = []
                for (id, entry) in s.entries where entry.deadline <= now && !entry.due {
                    if let c = entry.continuation {
                        s.entries.removeValue(forKey: id)
                        due.append(c)
                    } else {
                        s.entries[id]!.due = true  // its waiter has not parked yet
                    }
                }
                // Entries found due whose waiter never parked are the waiter's to remove.
                s.ticking = s.entries.values.contains { !$0.due }
                return (due, !s.ticking)
            }
            for c in due { c.resume(returning: true) }
            if stop { return }
        }
    }
}

extension TimeAmount {
    /// `seconds` as NIO's time amount, clamped like `Duration.clampedSeconds` (never traps).
    public static func clampedSeconds(_ seconds: Double) -> TimeAmount {
        let s = seconds.isNaN ? 0 : min(max(seconds, 0), OutsideNumber.maxSeconds)
        return .milliseconds(Int64((s * 1000).rounded()))
    }
}
