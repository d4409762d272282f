// swift-tools-version:6.3
import PackageDescription

// package-benchmark suites for evalengine's hot paths. A nested package (as Hummingbird does),
// so the main package's builds and tests never build the benchmark stack.
// Run: cd Benchmarks && swift package benchmark [--filter NAME]
let package = Package(
    name: "evalengine-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "evalengine", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.29.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "EvalCore", package: "evalengine"),
                .product(name: "VectorSearch", package: "evalengine"),
                .product(name: "ModelClient", package: "evalengine"),
                .product(name: "ResultStore", package: "evalengine"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
