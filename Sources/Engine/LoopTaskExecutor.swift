import NIOCore
import NIOPosix

/// A Swift Concurrency task executor that runs jobs on one NIO event loop. A run's tasks prefer
/// these (RunCore): a task then resumes on its loop whoever completed what it awaited (an
/// answer read on that loop, a commit on the store's thread), so requests, answers and the
/// case's work stay on one thread instead of hopping between pools or between loops at random.
final class LoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }

    /// One executor per loop of NIO's shared group, made once.
    static let shared: [LoopTaskExecutor] = MultiThreadedEventLoopGroup.singleton.makeIterator().map(LoopTaskExecutor.init)
}
