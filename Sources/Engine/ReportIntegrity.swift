import EvalCore
import Foundation

/// A digest over an eval report's header (run, gate, verdict, summary) and its case rows, written
/// into the report as `integrity` and checked by `evalengine merge`: a shard report whose rows
/// were flipped from failed to passed, or whose gate was loosened, is refused. With
/// `EVALENGINE_REPORT_KEY` in the environment (a pipeline secret) the digest is an HMAC-SHA256,
/// which only a holder of the key can make; without it a plain SHA-256, which catches edits but
/// not someone who recomputes it.
public enum ReportIntegrity {
    public static let keyVariable = "EVALENGINE_REPORT_KEY"
    static let domain = Array("evalengine-report-v1\n".utf8)

    /// The signing key from the environment, if the pipeline provides one.
    public static func key(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [UInt8]? {
        guard let k = environment[keyVariable], !k.isEmpty else { return nil }
        return Array(k.utf8)
    }

    /// The `integrity` object for a report with this header and these rows.
    static func seal(header: JSONValue, rowsSHA256: String, key: [UInt8]?) -> JSONValue {
        let message = domain + header.canonicalBytes + Array("\n".utf8) + Array(rowsSHA256.utf8)
        if let key {
            return ["algorithm": "hmac-sha256", "rows_sha256": .string(rowsSHA256), "digest": .string(HMACSHA256.hex(key: key, message: message))]
        }
        return ["algorithm": "sha256", "rows_sha256": .string(rowsSHA256), "digest": .string(SHA256Digest.hex(message))]
    }

    /// Why the report at `path` cannot be trusted, or nil when it can.
    static func problem(report: JSONValue, path: String, key: [UInt8]?) -> String? {
        guard case .object(var header) = report, let integrity = header["integrity"], let algorithm = integrity["algorithm"]?.stringValue,
              let digest = integrity["digest"]?.stringValue
        else { return "\(path): the report carries no integrity digest (written by an older evalengine, or edited)" }
        let rows = SHA256Stream()
        for row in report["cases"]?.arrayValue ?? [] { rows.update(row.canonicalBytes) }
        header["cases"] = nil
        header["integrity"] = nil
        let expected = seal(header: .object(header), rowsSHA256: rows.finalHex(), key: algorithm == "hmac-sha256" ? key : nil)
        switch (algorithm, key) {
        case ("hmac-sha256", nil):
            return "\(path): the report is signed; set \(keyVariable) to the pipeline's key to merge it"
        case ("sha256", _?):
            return "\(path): the report is not signed, and \(keyVariable) is set: shards of a signed pipeline must be signed"
        case ("hmac-sha256", _?):
            return expected["digest"]?.stringValue == digest ? nil : "\(path): the signature does not match (another key, or the report was changed)"
        case ("sha256", nil):
            return expected["digest"]?.stringValue == digest ? nil : "\(path): its case rows or gate were changed after it was written (digest mismatch)"
        default:
            return "\(path): unknown integrity algorithm '\(algorithm)'"
        }
    }
}
