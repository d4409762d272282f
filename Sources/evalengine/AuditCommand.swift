import ArgumentParser
import EvalCore
import Foundation
import ResultStore
import Server

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The service's audit trail: who asked for which job, for which artifact, and what came of it.",
        subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write audit lines as JSON Lines (oldest first), from the service's store.",
            discussion: "Reads the store the service uses (`store:` in its config); safe while the service runs.")

        @Option(name: .long, help: "The service's store (SQLite).")
        var store: String = ".evalengine/service.sqlite"
        @Option(name: .long, help: "Only lines for this artifact (metadata.artifact of the requests).")
        var artifact: String?
        @Option(name: .long, help: "Only lines submitted since: an RFC 3339 time, seconds since 1970, or a duration ago (24h, 7d).")
        var since: String?
        @Option(name: .long, help: "Write to this file instead of standard output.")
        var out: String?

        func run() async throws {
            let query: AuditQuery
            do {
                query = try AuditQuery(artifact: artifact, since: since, limit: String(AuditQuery.maxLimit))
            } catch {
                printError("evalengine audit export: --\(error.field ?? "since"): \(error.message)")
                throw ExitCode(ExitCodes.usage)
            }
            guard FileManager.default.fileExists(atPath: store) else {
                printError("evalengine audit export: no store at \(store)")
                throw ExitCode(ExitCodes.noInput)
            }
            let db: Store
            do { db = try Store.open(path: store) { printError($0) } } catch {
                printError("evalengine audit export: \(error)")
                throw ExitCode(ExitCodes.config)
            }
            var output: FileHandle = .standardOutput
            if let out {
                guard FileManager.default.createFile(atPath: out, contents: nil), let h = FileHandle(forWritingAtPath: out) else {
                    printError("evalengine audit export: cannot write \(out)")
                    throw ExitCode(ExitCodes.config)
                }
                output = h
            }
            var after: Int64 = 0
            var count = 0
            while true {
                let page = try db.audit(artifact: query.artifact, since: query.since, after: after, limit: query.limit)
                var bytes: [UInt8] = []
                for row in page {
                    row.entry.json.write(to: &bytes, sortedKeys: true)
                    bytes.append(0x0A)
                }
                output.write(Data(bytes))
                count += page.count
                guard page.count == query.limit, let last = page.last else { break }
                after = last.id
            }
            if out != nil {
                try output.close()
                printError("evalengine audit export: \(count) lines to \(out!)")
            }
        }
    }
}
