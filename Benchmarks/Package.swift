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
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
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
                .product(name: "Engine", package: "evalengine"),
                .product(name: "GoldenSets", package: "evalengine"),
                .product(name: "SimulatedModel", package: "evalengine"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "Fixtures",
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // Instruction counts under callgrind (scripts/bench-instructions.sh): no hardware counters here.
        .executableTarget(
            name: "InstructionCounts",
            dependencies: [
                .product(name: "EvalCore", package: "evalengine"),
                .product(name: "ResultStore", package: "evalengine"),
                .product(name: "ModelClient", package: "evalengine"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "Fixtures",
            ],
            path: "Tools/InstructionCounts"
        ),
        .target(name: "Fixtures", dependencies: [.product(name: "EvalCore", package: "evalengine")], path: "Tools/Fixtures"),
    ]
)
