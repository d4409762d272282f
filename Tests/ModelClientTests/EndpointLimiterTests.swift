import Synchronization
import Testing
@testable import ModelClient

@Suite struct EndpointLimiterTests {
    @Test func tokenBucketWaitsForTokensAndIsCorrectedFromUsage() async throws {
        // 600 tokens/min = 10/s with 1 s of burst: the bucket holds 10 tokens.
        let limiter = EndpointLimiter(.init(tokensPerMinute: 600, maxInFlight: 10, burstSeconds: 1))
        try await limiter.acquire(estimatedTokens: 10)  // empties the bucket
        let admitted = Atomic<Bool>(false)
        let waiter = Task {
            try await limiter.acquire(estimatedTokens: 5)
            admitted.store(true, ordering: .relaxed)
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!admitted.load(ordering: .relaxed))  // ~0.5 s of refill still needed
        // The first call really used 2 tokens: 8 come back, enough for the waiter at once.
        await limiter.release(estimatedTokens: 10, actualTokens: 2)
        try await waiter.value
        #expect(admitted.load(ordering: .relaxed))
        #expect(await limiter.currentInFlight == 1)
    }

    @Test func waitersAreAdmittedInOrderAsSlotsFree() async throws {
        let limiter = EndpointLimiter(.init(maxInFlight: 1))
        try await limiter.acquire(estimatedTokens: 1)
        let order = Mutex<[Int]>([])
        let first = Task {
            try await limiter.acquire(estimatedTokens: 1)
            order.withLock { $0.append(1) }
            await limiter.release(estimatedTokens: 1, actualTokens: nil)
        }
        try await Task.sleep(for: .milliseconds(30))
        let second = Task {
            try await limiter.acquire(estimatedTokens: 1)
            order.withLock { $0.append(2) }
            await limiter.release(estimatedTokens: 1, actualTokens: nil)
        }
        try await Task.sleep(for: .milliseconds(30))
        #expect(order.withLock { $0 }.isEmpty)  // both wait: the slot is taken
        await limiter.release(estimatedTokens: 1, actualTokens: nil)
        try await first.value
        try await second.value
        #expect(order.withLock { $0 } == [1, 2])
        #expect(await limiter.peakInFlight == 1)
    }

    @Test func aPauseHoldsEveryoneBack() async throws {
        let limiter = EndpointLimiter(.init(maxInFlight: 8))
        await limiter.pause(seconds: 0.3)
        let admitted = Atomic<Bool>(false)
        let t = Task {
            try await limiter.acquire(estimatedTokens: 1)
            admitted.store(true, ordering: .relaxed)
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(!admitted.load(ordering: .relaxed))
        try await t.value  // admitted once the pause ends
        #expect(admitted.load(ordering: .relaxed))
    }
}
