// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "spool",
    // Linux only for now (README, "Requirements"); macOS 15 is the Synchronization module's minimum
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SpoolRedis", targets: ["SpoolRedis"]),
        .library(name: "Spool", targets: ["Spool"]),
        .library(name: "SpoolTesting", targets: ["SpoolTesting"]),
        .executable(name: "spool", targets: ["SpoolCLI"]),
        // `spool worker --exec`'s trampoline, a C program: install it beside `spool`
        .executable(name: "spool-exec", targets: ["SpoolExec"]),
        .executable(name: "spool-bench", targets: ["SpoolBench"]),
        // for Spool's own crash-recovery tests
        .executable(name: "spool-test-worker", targets: ["SpoolTestWorker"]),
        .library(name: "SpoolFaults", targets: ["SpoolFaults"]),
        .executable(name: "spool-faults", targets: ["SpoolFaultsCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        // TLS (rediss://): an in-process TLS tunnel in front of hiredis
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        // benchmarks only: latency percentiles
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        // observability: `spool worker --metrics-port` and W3C trace context propagation
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
    ],
    targets: [
        // hiredis headers live in the default include path (/usr/include/hiredis); naming the
        // pkg-config file would only add -D_FILE_OFFSET_BITS=64, which SwiftPM rejects with a warning.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "SpoolRedis",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Spool",
            dependencies: [
                "SpoolRedis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolTesting",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        // the exec handler's trampoline (prctl is variadic, so not callable from Swift), in
        // `spool-exec` and, as the fallback when that is missing, in `spool`
        .target(name: "CSpoolExec"),
        // posix_spawn_file_actions_addclosefrom_np for the private redis-server, which Swift
        // does not see (it is declared only with _GNU_SOURCE)
        .target(name: "CSpoolSpawn"),
        // The same trampoline as a program of its own (`spool-exec`), which `spool worker` starts
        // from beside its own binary: starting `spool` costs milliseconds of CPU per job.
        // SwiftPM links every executable through swiftc, which adds the Swift image registrar
        // (swiftrt.o) and libswiftCore (with libstdc++): loading those doubled its cost.
        // -nostartfiles drops the registrar (there is no Swift code), -static-executable links
        // statically, so nothing of the Swift runtime is pulled in: a static libc-only program.
        .executableTarget(
            name: "SpoolExec",
            dependencies: ["CSpoolExec"],
            linkerSettings: [.unsafeFlags(["-static-executable", "-nostartfiles"], .when(platforms: [.linux]))]
        ),
        .executableTarget(
            name: "SpoolCLI",
            dependencies: [
                "Spool",
                "SpoolRedis",
                "CSpoolExec",
                "CSpoolSpawn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SpoolBench",
            dependencies: [
                "Spool",
                "SpoolRedis",
                "SpoolTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                "CMallocCounter",
            ],
            path: "Benchmarks/SpoolBench",
            swiftSettings: swiftSettings
        ),
        // Counts heap allocations per thread for `spool-bench micro` (see malloc_counter.c).
        .target(
            name: "CMallocCounter",
            path: "Benchmarks/CMallocCounter"
        ),
        // A worker process the tests start and SIGKILL (crash recovery); not a product.
        .executableTarget(
            name: "SpoolTestWorker",
            dependencies: [
                "Spool",
                "SpoolRedis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Fault injection with a history checker (docs/reliability.md).
        .target(
            name: "SpoolFaults",
            dependencies: [
                "Spool",
                "SpoolRedis",
                "SpoolTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SpoolFaultsCLI",
            dependencies: [
                "SpoolFaults",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolFaultsTests",
            dependencies: ["SpoolFaults", "SpoolTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolRedisTests",
            dependencies: ["SpoolRedis", "SpoolTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolTests",
            dependencies: [
                "Spool",
                "SpoolRedis",
                "SpoolTesting",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolCLITests",
            dependencies: ["SpoolTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)
