import ArgumentParser
import Engine
import EvalCore
import ResultStore

/// The response cache and durable-run flags, shared by the stages that call models.
struct RunMemoryOptions: ParsableArguments {
    @Option(name: .long, help: "Cache and run store (SQLite).")
    var cachePath: String = ".evalengine/cache.sqlite"

    @Option(name: .long, help: "read-write, read-only, refresh (call and overwrite) or off.")
    var cacheMode: String = "read-write"

    @Flag(name: .long, help: "Do not use the response cache (same as --cache-mode off).")
    var noCache = false

    @Option(name: .long, help: "Ignore cached responses older than this (e.g. 14d, 12h, 30m).")
    var cacheTTL: String?

    @Option(name: .long, help: "Resume this interrupted run: only cases without a result are sent.")
    var resume: String?

    @Flag(name: .long, help: "Start a new run even if an interrupted run with the same inputs exists.")
    var noResume = false

    func validate() throws {
        guard CacheMode(rawValue: cacheMode) != nil else {
            throw ValidationError("--cache-mode must be one of \(CacheMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let cacheTTL, parseDuration(cacheTTL) == nil { throw ValidationError("--cache-ttl: not a duration: '\(cacheTTL)' (e.g. 14d, 12h, 30m)") }
        if resume != nil && noResume { throw ValidationError("--resume and --no-resume contradict each other") }
    }

    var mode: CacheMode { noCache ? .off : CacheMode(rawValue: cacheMode)! }
    var ttl: Double? { cacheTTL.flatMap(parseDuration) }

    /// The run memory these flags describe, over `store`.
    func runMemory(store: Store?) -> RunMemory {
        var m = RunMemory(store: store)
        m.cacheMode = mode
        m.cacheTTL = ttl
        m.resumeRunID = resume
        m.autoResume = !noResume
        return m
    }

    /// Opens the store, printing why it could not.
    func openStore(command: String) -> Store? {
        do {
            return try Store.open(path: cachePath) { printError($0) }
        } catch {
            printError("evalengine \(command): cannot open the cache: \(error)")
            return nil
        }
    }
}
