import EvalCore
import Foundation
import ModelClient
import NIOPosix
import SimulatedModel
import Testing
import TestSupport
import Spawn

/// TLS as a real gateway speaks it: Debian's nginx terminating HTTPS in front of the simulator,
/// with a certificate from a CA made for the test (openssl). The endpoint trusts that CA through
/// `tls_ca_file`; without it the handshake is refused. Skipped where nginx or openssl is missing
/// (scripts/install-deps.sh installs both).
@Suite(.serialized, .enabled(if: TLSGateway.toolsPresent))
struct TLSEndpointTests {
    @Test func theLeanPathAndStreamingSpeakTLSToAGatewayWhoseCAIsTrusted() async throws {
        try await TLSGateway.run { port, caFile in
            var e = EndpointConfig(name: "tls", baseURL: "https://localhost:\(port)", model: "sim-small")
            e.tlsCAFile = caFile
            e.retry.maxAttempts = 1
            let client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: "sk-tls-test", eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
            // Several on few connections: the pool's keep-alive over TLS, not one handshake each.
            for i in 0..<6 {
                let r = try await client.complete(request("What is \(i + 2) * 3?"))
                #expect(r.text == "\((i + 2) * 3)" || !r.text.isEmpty)
                #expect(r.promptTokens > 0)
            }
            let models = try await client.listModels().get()
            #expect(models["sim-small"] != nil)
            await client.shutdown()

            e.stream = true
            let streaming = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: nil, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
            let s = try await streaming.complete(request("Summarize: the canyon release shipped on time."))
            #expect(!s.text.isEmpty && s.stream != nil)
            await streaming.shutdown()
        }
    }

    @Test func anUntrustedCertificateIsAConnectionErrorNamingTheCertificate() async throws {
        try await TLSGateway.run { port, _ in
            var e = EndpointConfig(name: "tls", baseURL: "https://localhost:\(port)", model: "sim-small")
            e.retry.maxAttempts = 2
            e.retry.initialBackoffSeconds = 0.01
            let client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: "sk-never-shown", eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
            do throws(ModelCallError) {
                _ = try await client.complete(request("hello"))
                Issue.record("a certificate from an unknown CA was accepted")
            } catch {
                #expect(error.code == .connection, "\(error)")
                #expect(error.message.lowercased().contains("certificate"), "\(error.message)")
                #expect(!error.message.contains("sk-never-shown"))
            }
            await client.shutdown()
        }
    }

    @Test func anUnreadableCAFileFailsEveryCallWithoutRetrying() async throws {
        var e = EndpointConfig(name: "tls", baseURL: "https://localhost:1", model: "sim-small")
        e.tlsCAFile = "/nonexistent/ca.pem"
        let client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: nil, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        do throws(ModelCallError) {
            _ = try await client.complete(request("hello"))
            Issue.record("no error")
        } catch {
            #expect(error.code == .connection && !error.retryable && error.message.contains("tls_ca_file /nonexistent/ca.pem"), "\(error)")
        }
        await client.shutdown()
    }
}

/// A CA, a server certificate for localhost signed by it, and nginx proxying HTTPS to a simulator.
enum TLSGateway {
    static let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var toolsPresent: Bool { nginx != nil && openssl != nil }

    static func run(_ body: @Sendable (_ port: Int, _ caFile: String) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeCertificates(in: dir)
        var p = SimulatorProfile()
        p.accuracy = 1
        p.stream.ttft = .fixed(ms: 5)
        p.stream.perToken = .fixed(ms: 1)
        try await withSimulator(p) { _, simPort in
            let port = try freePort()
            let conf = """
                daemon off;
                master_process off;
                worker_processes 1;
                pid \(dir)/nginx.pid;
                error_log \(dir)/error.log warn;
                events { worker_connections 256; }
                http {
                    access_log off;
                    client_body_temp_path \(dir)/body;
                    proxy_temp_path \(dir)/proxy;
                    fastcgi_temp_path \(dir)/fastcgi;
                    uwsgi_temp_path \(dir)/uwsgi;
                    scgi_temp_path \(dir)/scgi;
                    server {
                        listen 127.0.0.1:\(port) ssl;
                        server_name localhost;
                        ssl_certificate \(dir)/server.pem;
                        ssl_certificate_key \(dir)/server.key;
                        location / {
                            proxy_pass http://127.0.0.1:\(simPort);
                            proxy_http_version 1.1;
                            proxy_set_header Connection "";
                            proxy_buffering off;
                        }
                    }
                }
                """
            try conf.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
            let server = try ChildProcess(executable: nginx!, arguments: ["-p", dir, "-c", "\(dir)/nginx.conf", "-e", "\(dir)/error.log"], stdout: .null, stderr: .null)
            defer {
                server.send(SIGKILL)
                server.waitUntilExit()
            }
            try await waitForListener(port: port, log: "\(dir)/error.log")
            try await body(port, "\(dir)/ca.pem")
        }
    }

    private static func makeCertificates(in dir: String) throws {
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            .write(toFile: "\(dir)/server.ext", atomically: true, encoding: .utf8)
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.pem", "-days", "2", "-subj", "/CN=evalengine test CA",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr", "-subj", "/CN=localhost"])
        try openssl(["x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.pem", "-CAkey", "\(dir)/ca.key", "-CAcreateserial", "-out", "\(dir)/server.pem",
                     "-days", "2", "-extfile", "\(dir)/server.ext"])
    }

    private static func openssl(_ args: [String]) throws {
        let p = try ChildProcess(executable: openssl!, arguments: args, stdout: .null, stderr: .null)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TLSGatewayError(message: "openssl \(args.prefix(2).joined(separator: " ")) exited \(p.terminationStatus)") }
    }

    private static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress?.port ?? 0
        try channel.close().wait()
        return port
    }

    private static func waitForListener(port: Int, log: String) async throws {
        for _ in 0..<200 {
            if let c = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get() {
                try? await c.close()
                return
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TLSGatewayError(message: "nginx did not listen on \(port): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}

struct TLSGatewayError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
