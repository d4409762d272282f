import Synchronization
import Testing
@testable import ModelClient

@Suite struct EndpointLimiterTests {
    @Test func tokenBucketWaitsForTokensAndIsCorrectedFromUsage() async throws {
        // 600 tokens/min = 10/s with 1 s of burst: the bucket holds 10 tokens.
        let limiter = EndpointLimiter(.init(tokensPerMinute: 600, maxInFlight: 10, burstSeconds: 1))
        try await limiter.acquire(estimatedTokens: 10)  // empties the bucket
        let admitted = Flag()
        let waiter = Task {
            try await limiter.acquire(estimatedTokens: 5)
            admitted.set()
        }
        try await Task.sleep(for: .milliseconds(100))
        let early = admitted.isSet
        #expect(!early)  // ~0.5 s of refill still needed
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
        try await Task.sleep(for: .milliseconds(30))
        let second = Task {
            try await limiter.acquire(estimatedTokens: 1)
            order.append(2)
            await limiter.release(estimatedTokens: 1, actualTokens: nil)
        }
        try await Task.sleep(for: .milliseconds(30))
        #expect(order.values.isEmpty)  // both wait: the slot is taken
        await limiter.release(estimatedTokens: 1, actualTokens: nil)
        try await first.value
        try await second.value
        #expect(order.values == [1, 2])
        #expect(await limiter.peakInFlight == 1)
    }

    @Test func aPauseHoldsEveryoneBack() async throws {
        let limiter = EndpointLimiter(.init(maxInFlight: 8))
        await limiter.pause(seconds: 0.3)
        let admitted = Flag()
        let t = Task {
            try await limiter.acquire(estimatedTokens: 1)
            admitted.set()
        }
        try await Task.sleep(for: .milliseconds(50))
        let early = admitted.isSet
        #expect(!early)
        try await t.value  // admitted once the pause ends
        let late = admitted.isSet
        #expect(late)
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
