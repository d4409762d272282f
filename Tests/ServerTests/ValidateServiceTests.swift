import EvalCore
import Foundation
import NIOHTTP1
import Testing

/// `POST /v1/validate`: the same checks as `validate --check-endpoints`, against the service's own
/// endpoints, for the Argo validate step (200 with `valid`; a failing config is an answer).
@Suite(.serialized) struct ValidateServiceTests {
    @Test func theServiceValidatesAgainstItsEndpoints() async throws {
        let today = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate, .withDashSeparatorInDate])
        let rag = try String(contentsOfFile: repoRoot + "/golden-sets/rag/baseline.yaml", encoding: .utf8)
        let long = String(repeating: "word ", count: 400)
        let dir = scratchDir([
            "p.yaml": "accuracy: 0.9\n",
            "data/g.jsonl": arithmeticGoldenSet(5) + #"{"id":"long-one","vars":{"question":"\#(long)"},"expected":"x"}"# + "\n",
            "data/bad.jsonl": #"{"id":"a","assert":[{"type":"equalz"}]}"# + "\n",
            "data/prompt.yaml": promptYAML,
            "data/rag-bad.yaml": rag.replacingOccurrences(of: "model: sim-embed}", with: "model: sim-embed, dimensions: 768}"),
            "endpoints.yaml": """
                endpoints:
                  - name: sim
                    model: sim-small
                    simulated: {profile: p.yaml}
                    context_window: 4096
                    pricing: {input_per_million: 0.15, output_per_million: 0.60, as_of: "\(today)"}
                  - name: ghost
                    model: sim-ghost
                    simulated: {profile: p.yaml}
                    pricing: {input_per_million: 0.15, output_per_million: 0.60, as_of: "2025-01-01"}
                  - name: small
                    model: sim-small
                    simulated: {profile: p.yaml}
                    context_window: 64
                    pricing: {input_per_million: 0.15, output_per_million: 0.60, as_of: "\(today)"}

                """,
            "service.yaml": "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\nreports_dir: state/reports\n",
        ])
        let server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
        func post(_ body: String) async throws -> HTTPResult { try await http(.POST, server.base + "/v1/validate", body: body) }
        let files = #""golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"prompt.yaml"}"#
        let ok = try await post("{\(files),\"endpoint\":\"sim\"}")
        #expect(ok.status == 200 && ok.json["valid"]?.boolValue == true && ok.headers.first(name: "X-Eval-Verdict") == "pass", "\(ok.body)")
        #expect(ok.body.contains("model 'sim-small' listed") && ok.body.contains("of 4096 tokens"), "\(ok.body)")
        // A model the endpoint does not list, and stale pricing: named by endpoints file and line.
        let ghost = try await post(#"{"endpoint":"ghost"}"#)
        #expect(ghost.status == 200 && ghost.json["valid"]?.boolValue == false && ghost.headers.first(name: "X-Eval-Verdict") == "fail", "\(ghost.body)")
        #expect(ghost.body.contains("endpoints.yaml:8: endpoint 'ghost': model 'sim-ghost' is not listed") && ghost.body.contains("endpoints.yaml:10:"), "\(ghost.body)")
        let warned = try await post(#"{"endpoint":"ghost","stale_pricing":"warn","max_pricing_age_days":100000}"#)
        #expect(warned.json["errors"]?.numberValue == 1 && warned.json["warnings"]?.numberValue == 0, "\(warned.body)")
        // The longest case over the window: named by file, line and case id (paths as the caller gave them).
        let small = try await post("{\(files),\"endpoint\":\"small\"}")
        #expect(small.json["valid"]?.boolValue == false && small.body.contains("g.jsonl:6: case 'long-one'") && small.body.contains("context window of 64"), "\(small.body)")
        #expect(!small.body.contains(dir), "paths must be the caller's refs: \(small.body)")
        // A golden set that does not parse is a finding, not a 4xx.
        let bad = try await post(#"{"golden_set":{"ref":"bad.jsonl"},"prompt":{"ref":"prompt.yaml"},"endpoint":"sim"}"#)
        #expect(bad.status == 200 && bad.json["valid"]?.boolValue == false && bad.body.contains("bad.jsonl:1"), "\(bad.body)")
        // The RAG config's embedding dimension against one probe of its endpoint.
        let dims = try await post(#"{"rag_configs":[{"ref":"rag-bad.yaml"}]}"#)
        #expect(dims.json["valid"]?.boolValue == false && dims.body.contains("embedding.dimensions is 768, but endpoint 'sim' answers 256"), "\(dims.body)")
        // Every endpoint of the service (a model-config change) at once.
        let all = try await post(#"{"all_endpoints":true}"#)
        #expect(all.json["errors"]?.numberValue == 2, "\(all.body)")
        // Requests it cannot check: 400/422 naming the field; URLs are never accepted.
        #expect(try await post(#"{"endpoint":"http://169.254.169.254/"}"#).json["error"]?["code"]?.stringValue == "endpoint_not_allowed")
        #expect(try await post(#"{"endpoint":"sim","max_pricing_age_days":-1}"#).json["error"]?["field"]?.stringValue == "max_pricing_age_days")
        #expect(try await post(#"{"golden_set":{"ref":"../etc/passwd"},"prompt":{"ref":"prompt.yaml"}}"#).status == 422)
        #expect(try await post("{}").status == 400)
        #expect(try await post(#"{"endpoint":"sim","extra":1}"#).json["error"]?["field"]?.stringValue == "extra")
        server.kill9()
    }

    /// A provider that accepts the connection and never answers: the answer is a finding naming
    /// it, within the configured budget, never a 5xx or a hang.
    @Test func aSilentEndpointIsAFindingWithinTheBudget() async throws {
        // A listening socket nobody accepts on: the kernel completes the handshake, nothing answers.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        #expect(listen(fd, 16) == 0)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let dir = scratchDir([
            "endpoints.yaml": "endpoints:\n  - {name: silent, model: m, base_url: \"http://127.0.0.1:\(port)\", timeouts: {request_seconds: 60}}\n",
            "service.yaml": "endpoints: endpoints.yaml\ndata_dir: .\nstore: state/s.sqlite\nreports_dir: state/r\nlimits: {validate_timeout_seconds: 1}\n",
        ])
        let server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
        // (A hang would fail the request's own 30-second timeout.)
        let r = try await http(.POST, server.base + "/v1/validate", body: #"{"endpoint":"silent","stale_pricing":"warn"}"#, timeout: 30)
        #expect(r.status == 200 && r.json["valid"]?.boolValue == false && r.body.contains("did not all answer within 1.0 s") && r.body.contains("silent"), "\(r.body)")
        server.kill9()
    }
}
