import Foundation
import NIOHTTP1
import Testing

/// `GET /docs`: README and docs/ rendered, the live configuration with its secrets hidden, the API
/// from the OpenAPI document; protected like the API.
@Suite(.serialized) struct DocsPagesTests {
    @Test func docsAreServedAndSecretsNeverShown() async throws {
        let dir = scratchDir([
            "tokens": "ops:very-secret-token-value\n",
            "endpoints.yaml": """
                endpoints:
                  - {name: sim, model: sim-small, simulated: {}}
                  - {name: remote, model: m, base_url: "http://user:hunter2@127.0.0.1:9/v1?api_key=sk-leaked", api_key_env: REMOTE_KEY}
                """,
            "service.yaml": "endpoints: endpoints.yaml\ndata_dir: .\nstore: state/s.sqlite\nreports_dir: state/r\ndocs_dir: \(repoRoot)\nauth: {tokens_file: tokens}\n",
        ])
        let server = try await ServerProcess(config: dir + "/service.yaml", dir: dir)
        let auth = [("Authorization", "Bearer very-secret-token-value")]
        #expect(try await http(.GET, server.base + "/docs").status == 401)
        let index = try await http(.GET, server.base + "/docs", headers: auth)
        #expect(index.status == 200 && index.body.contains("/docs/readme") && index.body.contains("/docs/api"), "\(index.body.prefix(400))")
        let readme = try await http(.GET, server.base + "/docs/readme", headers: auth)
        #expect(readme.status == 200 && readme.body.contains("<h1>evalengine</h1>") && readme.body.contains("<table>"), "\(readme.body.prefix(300))")
        #expect(try await http(.GET, server.base + "/docs/operations", headers: auth).body.contains("<h2>Metrics</h2>"))
        #expect(try await http(.GET, server.base + "/docs/..%2F..%2Fetc%2Fpasswd", headers: auth).status == 404)
        let config = try await http(.GET, server.base + "/docs/config", headers: auth)
        #expect(config.status == 200 && config.body.contains("1 tokens: ops") && config.body.contains("env REMOTE_KEY"), "\(config.body.prefix(600))")
        for secret in ["very-secret-token-value", "hunter2", "sk-leaked", "api_key="] {
            #expect(!config.body.contains(secret), "the configuration page shows \(secret)")
        }
        let api = try await http(.GET, server.base + "/docs/api", headers: auth)
        #expect(api.status == 200 && api.body.contains("/v1/test-suites/{name}/runs") && api.body.contains("/v1/validate"))
        server.kill9()
    }
}
