import CoreMetrics
import EvalCore
import Foundation
import Logging
import ResultStore
import ServiceLifecycle

/// Removes what the service no longer keeps (ServiceConfig.retention): finished jobs with their
/// reports, runs with their case results, cached responses and embeddings, input copies no job
/// refers to, and, after their own longer period, audit lines. Works in small batches (each its
/// own transaction on the store's thread) so running jobs' writes are never held for long; the
/// pages freed are reused, so the store stops growing once the oldest kept work is as old as
/// the retention period.
struct RetentionSweeper: Service {
    let config: ServiceConfig
    let policy: RetentionPolicy
    let store: Store
    let logger: Logger

    func run() async throws {
        // The first sweep soon after start (a service restarted after a long stop catches up),
        // then one every sweep period; graceful shutdown ends the sleep.
        var delay = min(5, config.retentionSweepSeconds)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let ms = Int64(delay * 1000)
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(ms)) }
            } catch {
                return
            }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            await sweep()
            delay = config.retentionSweepSeconds
        }
    }

    /// One pass; returns rows removed per kind (jobs, runs, responses, embeddings, audit, files).
    @discardableResult
    func sweep(now: Double = Date().timeIntervalSince1970) async -> [String: Int] {
        var removed: [String: Int] = [:]
        let jobCutoff = now - policy.jobs
        do {
            while !Task.isCancelled {
                let jobs = try await store.writing { store throws(SQLiteError) in try store.removeFinishedJobs(before: jobCutoff) }
                removed["jobs", default: 0] += jobs.count
                for job in jobs { removed["files", default: 0] += removeReports(of: job) }
                if jobs.count < Store.retentionBatch { break }
            }
            for (kind, cutoff) in [(RetainedRows.runs, jobCutoff), (.responses, now - policy.cache), (.embeddings, now - policy.cache), (.audit, now - policy.audit),
                                 (.suiteRuns, now - policy.audit)] {
                while !Task.isCancelled {
                    let n = try await store.writing { store throws(SQLiteError) in try store.removeExpired(kind, before: cutoff) }
                    removed[kind.rawValue, default: 0] += n
                    if n < Store.retentionBatch { break }
                }
            }
            removed["files", default: 0] += try await removeUnusedInputCopies(olderThan: jobCutoff)
            try await store.writing { store throws(SQLiteError) in try store.checkpoint() }
        } catch {
            logger.warning("retention sweep stopped", metadata: ["error": .string("\(error)")])
        }
        for (kind, n) in removed where n > 0 {
            CoreMetrics.Counter(label: "evalengine_retention_removed_total", dimensions: [("kind", kind)]).increment(by: n)
        }
        CoreMetrics.Gauge(label: "evalengine_store_bytes").record(store.fileBytes())
        if removed.values.contains(where: { $0 > 0 }) {
            logger.info("retention sweep", metadata: removed.sorted { $0.key < $1.key }.reduce(into: Logger.Metadata()) { $0[$1.key] = .stringConvertible($1.value) })
        }
        return removed
    }

    /// Deletes a removed job's report files (the JSON report and a shadow job's HTML page).
    private func removeReports(of job: RemovedJob) -> Int {
        var paths = [config.reportsDir + "/" + job.id + ".html"]
        if let p = job.reportPath { paths.append(p) }
        return paths.reduce(0) { n, p in n + ((try? FileManager.default.removeItem(atPath: p)) != nil ? 1 : 0) }
    }

    /// Input copies (content-addressed, shared by jobs) that no kept job names and that were not
    /// used since the cutoff (admission touches a copy it reuses, so one being admitted stays).
    private func removeUnusedInputCopies(olderThan cutoff: Double) async throws -> Int {
        let dir = config.inputsDir
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir), !names.isEmpty else { return 0 }
        let bodies = try await store.writing { store throws(SQLiteError) in try store.jobRequests() }
        var referenced = Set<String>()
        for body in bodies {
            for path in InputSnapshots.split(body).snapshots.values { referenced.insert((path as NSString).lastPathComponent) }
        }
        var removed = 0
        for name in names where !referenced.contains(name) && !name.contains(".tmp-") {
            let path = dir + "/" + name
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                modified.timeIntervalSince1970 < cutoff else { continue }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed += 1 }
        }
        return removed
    }
}

extension ServiceConfig {
    /// Where jobs' input copies live (beside the store).
    var inputsDir: String { (storePath as NSString).deletingLastPathComponent + "/inputs" }
}
