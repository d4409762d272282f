/// One of `count` disjoint parts of a golden set (`--shard i/N`, 1-based like jest's): a case
/// belongs to shard `SHA-256(case id) mod N + 1`, so the parts are stable across machines and
/// runs, disjoint, and together the whole set, whatever the file order.
public struct Shard: Sendable, Hashable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init?(index: Int, count: Int) {
        guard count >= 1, index >= 1, index <= count else { return nil }
        self.index = index
        self.count = count
    }

    /// Parses `i/N`; the error says what is wrong with it.
    public static func parse(_ text: String) -> Result<Shard, FieldError> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            return .failure(FieldError(field: "shard", message: "'\(text)' is not i/N (e.g. 2/4)"))
        }
        guard n >= 1, n <= 100_000 else { return .failure(FieldError(field: "shard", message: "the shard count \(n) must be between 1 and 100000")) }
        guard let s = Shard(index: i, count: n) else {
            return .failure(FieldError(field: "shard", message: "shard \(i) of \(n) does not exist: shards are numbered 1 to \(n)"))
        }
        return .success(s)
    }

    /// The shard (1-based) that case `id` belongs to out of `count`.
    public static func of(_ id: String, count: Int) -> Int {
        let h = SHA256Digest.hash(Array(id.utf8))
        var x: UInt64 = 0
        for b in h.prefix(8) { x = x << 8 | UInt64(b) }
        return Int(x % UInt64(count)) + 1
    }

    public func contains(_ caseID: String) -> Bool { Shard.of(caseID, count: count) == index }

    public var description: String { "\(index)/\(count)" }
    public var json: JSONValue { ["index": .number(Double(index)), "count": .number(Double(count))] }
}
