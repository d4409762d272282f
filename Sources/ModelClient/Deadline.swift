/// Runs `body` and returns its value, or nil when `seconds` pass first; `body` is then cancelled.
/// One deadline over a whole exchange, where a library's own timeouts cover only part of it
/// (AsyncHTTPClient's the response head, Hummingbird's none of a request body).
public func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}
