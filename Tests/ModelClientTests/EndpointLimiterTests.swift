import Synchronization
import Testing
@testable import ModelClient

/// No assertion here depends on how fast the machine is: every wait that must not end is many
/// seconds long, and the tests wait for states (a caller queued), not for time.
@Suite struct EndpointLimiterTests {
    /// Waits until `n` callers are queued in the limiter.
    func queued(_ limiter: EndpointLimiter, _ n: Int) async {
        while await limiter.waitingCount < n { try? await Task.sleep(for: .milliseconds(1)) }
    }

    @Test func tokenBucketWaitsForTokensAndIsCorrectedFromUsage() async throws {
        // 10 tokens/min with a minute of burst: the bucket holds 10; refilling 5 takes 30 s.
        let limiter = EndpointLimiter(.init(tokensPerMinute: 10, maxInFlight: 10, burstSeconds: 60))
        try await limiter.acquire(estimatedTokens: 10)  // empties the bucket
        let admitted = Flag()
        let waiter = Task {
            try await limiter.acquire(estimatedTokens: 5)
            admitted.set()
        }
        await queued(limiter, 1)
        let early = admitted.isSet
        #expect(!early)
        // The first call really used 2 tokens: 8 come back, enough for the waiter at once.
        await limiter.release(estimatedTokens: 10, actualTokens: 2)
        try await waiter.value
        let late = admitted.isSet
        #expect(late)
        #expect(await limiter.currentInFlight == 1)
    }

    @Test func waitersAreAdmittedInOrderAsSlotsFree() async throws {
        let limiter = EndpointLimiter(.init(maxInFlight: 1))
        try await limiter.acquire(estimatedTokens: 1)
        let order = Recorder()
        let first = Task {
            try await limiter.acquire(estimatedTokens: 1)
            order.append(1)
            await limiter.release(estimatedTokens: 1, actualTokens: nil)
        }
        await queued(limiter, 1)
        let second = Task {
            try await limiter.acquire(estimatedTokens: 1)
            order.append(2)
            await limiter.release(estimatedTokens: 1, actualTokens: nil)
        }
        await queued(limiter, 2)
        #expect(order.values.isEmpty)  // both wait: the slot is taken
        await limiter.release(estimatedTokens: 1, actualTokens: nil)
        try await first.value
        try await second.value
        #expect(order.values == [1, 2])
        #expect(await limiter.peakInFlight == 1)
    }

    @Test func aPauseHoldsEveryoneBack() async throws {
        let limiter = EndpointLimiter(.init(maxInFlight: 8))
        await limiter.pause(seconds: 600)
        let admitted = Flag()
        let waiter = Task {
            try await limiter.acquire(estimatedTokens: 1)
            admitted.set()
        }
        await queued(limiter, 1)
        let early = admitted.isSet
        #expect(!early)
        waiter.cancel()  // still waiting when cancelled: it was held back by the pause
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(await limiter.waitingCount == 0)
    }
}

/// A flag tasks can set and the test can read.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// Records values in the order tasks append them.
final class Recorder: Sendable {
    private let storage = Mutex<[Int]>([])
    func append(_ v: Int) { storage.withLock { $0.append(v) } }
    var values: [Int] { storage.withLock { $0 } }
}
