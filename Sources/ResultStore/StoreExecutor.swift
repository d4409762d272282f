import Foundation
import Synchronization

/// One thread of its own that runs the store's writes, one at a time, so a write that waits for
/// another process's lock (up to `Store.busyDeadline`) waits here, never on a thread of Swift's
/// cooperative pool that serves HTTP and runs cases. The async edge is `Store.writing(_:)`
/// (GRDB's `DatabaseWriter` and NIO's `NIOThreadPool` are the models).
final class StoreExecutor: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var stopped = false
    }

    /// Shared with the thread (which must not keep the executor alive: its deinit stops it).
    private final class Queue: Sendable {
        let state = Mutex(State())
        let wake = DispatchSemaphore(value: 0)
    }

    private let queue = Queue()

    init(name: String) {
        let queue = self.queue
        let thread = Thread {
            while true {
                queue.wake.wait()
                let job: (@Sendable () -> Void)? = queue.state.withLock { s in s.jobs.isEmpty ? nil : s.jobs.removeFirst() }
                if let job {
                    job()
                } else if queue.state.withLock({ $0.stopped }) {
                    return
                }
            }
        }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the store's thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(SQLiteError) -> T) async throws(SQLiteError) -> T {
        let result: Result<T, SQLiteError> = await withCheckedContinuation { continuation in
            queue.state.withLock { $0.jobs.append { continuation.resume(returning: Result { () throws(SQLiteError) in try body() }) } }
            queue.wake.signal()
        }
        return try result.get()
    }

    /// Lets the thread finish what is queued and end.
    func stop() {
        queue.state.withLock { $0.stopped = true }
        queue.wake.signal()
    }

    deinit { stop() }
}
