// swift-tools-version:6.0
import PackageDescription

// Dependencies point down this list only: EvalCore <- GoldenSets, ModelClient <- Engine <- Server <- evalengine;
// EndpointSessions (ModelClient + SimulatedModel) beside Engine, for the CLI, the service and the tests.
// package-benchmark lives in Benchmarks/ (its own package) so `swift build` never builds it.
let package = Package(
    name: "evalengine",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "evalengine", targets: ["evalengine"]),
        .library(name: "EvalCore", targets: ["EvalCore"]),
        .library(name: "Engine", targets: ["Engine"]),
        // For Benchmarks/ (a nested package, so `swift build` here never builds package-benchmark).
        .library(name: "VectorSearch", targets: ["VectorSearch"]),
        .library(name: "ModelClient", targets: ["ModelClient"]),
        .library(name: "ResultStore", targets: ["ResultStore"]),
        .library(name: "GoldenSets", targets: ["GoldenSets"]),
        .library(name: "SimulatedModel", targets: ["SimulatedModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.26.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        // Already built for AsyncHTTPClient; the runner's own connection pool speaks TLS through it.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        // Markdown -> HTML for GET /docs (pure Swift, no dependencies of its own).
        .package(url: "https://github.com/JohnSundell/Ink", from: "0.6.0"),
    ],
    targets: [
        // System libraries: Debian's libopenblas-dev + liblapacke-dev, libsqlite3-dev, libssl-dev.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", providers: [.apt(["libssl-dev"])]),
        // zlib: inflating an answer an endpoint compressed without being asked.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),

        // malloc's own count of the bytes in use (glibc malloc_info, every arena), for the service's heap gauge.
        .target(name: "CHeapStats"),
        // Child processes by posix_spawn (Foundation's Process.run can crash a process with many descriptors open).
        .target(name: "CSpawn"),
        .target(name: "Spawn", dependencies: ["CSpawn"]),
        // Pure values and math: no I/O, no networking.
        .target(name: "EvalCore", dependencies: ["CCrypto"]),
        // Golden-set, prompt, endpoint and gate files -> EvalCore values, with file:line errors.
        .target(name: "GoldenSets", dependencies: ["EvalCore", .product(name: "Yams", package: "Yams")]),
        .target(name: "VectorSearch", dependencies: ["CBLAS"]),
        // SQLite: response and embedding caches, runs, durable case results.
        .target(name: "ResultStore", dependencies: ["CSQLite", "EvalCore"]),
        .target(
            name: "ModelClient",
            dependencies: [
                "EvalCore", "CZlib",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // Already built for AsyncHTTPClient; named to tell a decompression bomb from a broken connection.
                .product(name: "NIOHTTPCompression", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "Engine",
            dependencies: [
                "EvalCore", "GoldenSets", "ModelClient", "ResultStore", "VectorSearch", "Spawn",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // Opens configured endpoints: real ones, or the built-in simulator in-process. Kept out of Engine
        // so the engine library does not pull in the simulator's Hummingbird.
        .target(
            name: "EndpointSessions",
            dependencies: ["EvalCore", "GoldenSets", "ModelClient", "SimulatedModel", .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // The HTTP service for Argo: routes, jobs, auth, metrics, lifecycle. Nothing imports it but the CLI.
        .target(
            name: "Server",
            dependencies: [
                "Engine", "EndpointSessions", "EvalCore", "GoldenSets", "ModelClient", "ResultStore", "CHeapStats",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Ink", package: "Ink"),
            ]
        ),
        .target(
            name: "SimulatedModel",
            dependencies: [
                "EvalCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "evalengine",
            dependencies: [
                "Engine", "EndpointSessions", "Server", "SimulatedModel", "GoldenSets", "ModelClient", "ResultStore", "VectorSearch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        .testTarget(name: "EvalCoreTests", dependencies: ["EvalCore"]),
        .testTarget(name: "GoldenSetsTests", dependencies: ["GoldenSets"]),
        .testTarget(name: "VectorSearchTests", dependencies: ["VectorSearch", "EvalCore"]),
        .testTarget(name: "ResultStoreTests", dependencies: ["ResultStore"]),
        .target(
            name: "TestSupport",
            dependencies: [
                "EndpointSessions", "EvalCore", "ModelClient", "SimulatedModel", "Spawn", .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "ModelClientTests",
            dependencies: ["ModelClient", "SimulatedModel", "Spawn", "TestSupport", .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "SimulatedModel", "GoldenSets", "ResultStore", "Spawn", "TestSupport"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Engine", "GoldenSets", "SimulatedModel", "ResultStore", "Spawn", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
