import EvalCore
import Foundation

/// Copies of the files a job refers to, taken when the job is admitted: a queued job, or one
/// resumed after a restart, then runs exactly the inputs its digest names, however the data
/// directory changes meanwhile. Copies are named by their SHA-256 (and keep the extension, which
/// says the format), so equal files are stored once.
enum InputSnapshots {
    /// The request key under which the stored job body keeps its snapshot map (field → copy).
    static let bodyKey = "_snapshots"

    struct Failure: Error {
        var message: String
    }

    /// Copies every file of `request` into `directory`; returns the map to store with the job.
    static func take(_ request: StageRequest, into directory: String) throws(Failure) -> [String: String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw Failure(message: "cannot create \(directory): \(error.localizedDescription)")
        }
        var map: [String: String] = [:]
        for file in request.files {
            let ext = (file.path as NSString).pathExtension
            let copy = directory + "/" + file.sha256 + (ext.isEmpty ? "" : "." + ext)
            if FileManager.default.fileExists(atPath: copy) {
                // In use again: retention removes only copies unused for its whole period.
                try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: copy)
            } else {
                let tmp = copy + ".tmp-\(UUID().uuidString.prefix(8))"
                do {
                    try FileManager.default.copyItem(atPath: file.path, toPath: tmp)
                } catch {
                    throw Failure(message: "cannot copy \(file.path): \(error.localizedDescription)")
                }
                // The file may have changed between hashing and copying: the copy must be what was hashed.
                guard SHA256Stream.fileHex(tmp) == file.sha256 else {
                    try? FileManager.default.removeItem(atPath: tmp)
                    throw Failure(message: "\(file.path) changed while the job was being admitted; submit it again")
                }
                if rename(tmp, copy) != 0 { try? FileManager.default.removeItem(atPath: tmp) }
            }
            map[file.field] = copy
        }
        return map
    }

    /// The stored body: the canonical request with its snapshot map.
    static func storedBody(_ request: StageRequest, snapshots: [String: String]) -> [UInt8] {
        guard !snapshots.isEmpty, case .object(var o)? = try? JSONValue.parse(bytes: request.canonicalBody) else { return request.canonicalBody }
        o[bodyKey] = .object(snapshots.mapValues(JSONValue.string))
        return JSONValue.object(o).canonicalBytes
    }

    /// Splits a stored body into the request body and its snapshot map (none for jobs stored
    /// before snapshots existed).
    static func split(_ stored: [UInt8]) -> (body: [UInt8], snapshots: [String: String]) {
        guard case .object(var o)? = try? JSONValue.parse(bytes: stored), let map = o[bodyKey]?.objectValue else { return (stored, [:]) }
        o[bodyKey] = nil
        return (JSONValue.object(o).canonicalBytes, map.compactMapValues(\.stringValue))
    }
}

#if canImport(Glibc)
import Glibc
#endif
