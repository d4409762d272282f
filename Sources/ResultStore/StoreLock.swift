import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive, advisory lock on a store for the lifetime of one `serve` process: two services
/// on one store would each resume and run the other's jobs (116 endpoint calls for 64 cases,
/// completed jobs recorded as errored). The lock is `flock(2)` on `STORE.lock`, released by the
/// kernel when the process ends however it ends, so a crash never leaves it stale. The file holds
/// the owner's pid for the error message. CLI runs do not take it: they share caches safely.
public final class StoreLock: Sendable {
    public let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    public struct Held: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Takes the lock on the store at `storePath`, or throws naming who holds it.
    public static func acquire(storePath: String) throws(Held) -> StoreLock {
        let path = storePath + ".lock"
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Held(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let err = errno
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            if err == EWOULDBLOCK {
                throw Held(message: "another evalengine serve (pid \(holder)) is using the store \(storePath); two services on one store would run each other's jobs. Stop it, or give this one another store")
            }
            throw Held(message: "cannot lock \(path): \(String(cString: strerror(err)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return StoreLock(path: path, fd: fd)
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
