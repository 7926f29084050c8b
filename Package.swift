// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "spool",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SpoolRedis", targets: ["SpoolRedis"]),
        .library(name: "Spool", targets: ["Spool"]),
        .library(name: "SpoolTesting", targets: ["SpoolTesting"]),
        .executable(name: "spool", targets: ["SpoolCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "SpoolRedis",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Spool",
            dependencies: [
                "SpoolRedis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolTesting",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SpoolCLI",
            dependencies: [
                "Spool",
                "SpoolRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolRedisTests",
            dependencies: ["SpoolRedis", "SpoolTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolTests",
            dependencies: ["Spool", "SpoolRedis", "SpoolTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolCLITests",
            dependencies: ["SpoolTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)
