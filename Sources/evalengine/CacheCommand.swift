import ArgumentParser
import EvalCore
import Foundation
import ResultStore

struct CacheOptions: ParsableArguments {
    @Option(name: .long, help: "Cache and run store (SQLite).")
    var cachePath: String = ".evalengine/cache.sqlite"

    func open() throws -> Store {
        do {
            return try Store.open(path: cachePath) { printError($0) }
        } catch {
            printError("evalengine cache: \(error)")
            throw ExitCode(ExitCodes.config)
        }
    }
}

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect and maintain the response cache and run store.",
        subcommands: [Stats.self, Prune.self, Export.self, Import.self, Check.self, CacheBench.self])

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Entries, runs, size and lifetime hit rate.")
        @OptionGroup var options: CacheOptions

        func run() async throws {
            let store = try options.open()
            let s = try store.stats()
            let lookups = s.hits + s.misses
            print("\(store.path): \(s.fileBytes) bytes")
            print("  responses \(s.responses)   embeddings \(s.embeddings)   runs \(s.runs)   case results \(s.caseResults)")
            print("  lifetime hits \(s.hits)   misses \(s.misses)" + (lookups > 0 ? String(format: "   hit rate %.1f%%", Double(s.hits) * 100 / Double(lookups)) : ""))
            let embeddingLookups = s.embeddingHits + s.embeddingMisses
            print("  embedding lookups: hits \(s.embeddingHits)   misses \(s.embeddingMisses)"
                  + (embeddingLookups > 0 ? String(format: "   hit rate %.1f%%", Double(s.embeddingHits) * 100 / Double(embeddingLookups)) : ""))
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete cache entries and finished runs older than a duration.")
        @OptionGroup var options: CacheOptions
        @Option(name: .long, help: "Age, e.g. 14d, 12h, 30m.")
        var olderThan: String

        func validate() throws {
            guard parseDuration(olderThan) != nil else { throw ValidationError("--older-than: not a duration: '\(olderThan)' (e.g. 14d, 12h)") }
        }

        func run() async throws {
            let store = try options.open()
            let n = try store.prune(olderThan: parseDuration(olderThan)!)
            print("pruned \(n) rows older than \(olderThan) from \(store.path)")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the caches to a new file (e.g. an Argo artifact).")
        @OptionGroup var options: CacheOptions
        @Argument(help: "File to create.")
        var file: String

        func run() async throws {
            let store = try options.open()
            do { try store.exportCaches(to: file) } catch {
                printError("evalengine cache export: \(error)")
                throw ExitCode(ExitCodes.config)
            }
            print("exported caches of \(store.path) to \(file)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge an exported cache file into this cache (existing entries win).")
        @OptionGroup var options: CacheOptions
        @Argument(help: "File made by `cache export`.")
        var file: String

        func run() async throws {
            let store = try options.open()
            do {
                let n = try store.importCaches(from: file)
                print("imported \(n) entries from \(file) into \(store.path)")
            } catch {
                printError("evalengine cache import: \(error)")
                throw ExitCode(ExitCodes.dataError)
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run SQLite's integrity check on the store.")
        @OptionGroup var options: CacheOptions

        func run() async throws {
            let result = try options.open().integrityCheck()
            print(result)
            if result != "ok" { throw ExitCode(ExitCodes.dataError) }
        }
    }
}

/// `evalengine cache bench`: the Store's batched inserts and point lookups on the layout the raw C
/// baseline (Benchmarks/sqlite/sqlite_raw.c) uses, for `scripts/bench-cache.sh`.
struct CacheBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure cache inserts and lookups (writes a scratch file).")
    @Option(name: .long, help: "Scratch store to create.") var file: String
    @Option(name: .long) var rows: Int = 1_000_000
    @Option(name: .long) var lookups: Int = 1_000_000

    static func key(_ i: UInt64) -> [UInt8] {
        var x = i
        return (0..<32).map { _ in
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: x >> 56)
        }
    }

    func run() async throws {
        let store = try Store.open(path: file)
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: 1024)
        let clock = ContinuousClock()
        let t0 = clock.now
        var batch: [StoreWrite] = []
        batch.reserveCapacity(1000)
        for i in 0..<rows {
            batch.append(.response(key: CacheBench.key(UInt64(i)), value: value))
            if batch.count == 1000 || i == rows - 1 {
                try store.write(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        let t1 = clock.now
        var seed: UInt64 = 12345
        var found = 0
        var bytes = 0
        for _ in 0..<lookups {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1
            if let v = try store.response(CacheBench.key((seed >> 33) % UInt64(rows))) {
                found += 1
                bytes += v.count
            }
        }
        let t2 = clock.now
        func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        print(String(format: "evalengine Store: inserts %.0f rows/s (batches of 1000), lookups %.0f hits/s (%d of %d found, %d bytes)",
                     Double(rows) / secs(t1 - t0), Double(lookups) / secs(t2 - t1), found, lookups, bytes))
    }
}
