// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "microdose-trials",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ingest", targets: ["ingest"]),
        .executable(name: "projector", targets: ["projector"]),
        .executable(name: "reporter", targets: ["reporter"]),
        .executable(name: "devbroker", targets: ["devbroker"]),
        .executable(name: "simulator", targets: ["simulator"]),
        .executable(name: "bench", targets: ["bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C libraries: a module map and a shim header each; only Kafka and Postgres import them.
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        // Adapters over the C libraries: Swift types only at their surface.
        .target(name: "Kafka", dependencies: ["CRdKafka", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(name: "Postgres", dependencies: ["CLibPQ"], swiftSettings: strict),
        // TrialDomain's types in PostgreSQL (Timestamp as timestamptz), defined once for every module that reads or
        // binds them, so neither Postgres nor the pure core depends on the other.
        .target(name: "TrialDomainPostgres", dependencies: ["Postgres", "TrialDomain"], swiftSettings: strict),

        // Pure domain core: envelope, event types, validation, JSON, the folds and rules. No I/O, no configuration.
        .target(name: "TrialDomain", swiftSettings: strict),
        // Tokens: minting and verifying the JWTs sites, monitors and sponsors present.
        .target(name: "TrialAuth", dependencies: ["TrialDomain", .product(name: "JWTKit", package: "jwt-kit")],
                swiftSettings: strict),

        // The projector: applies the log to PostgreSQL in batches, one transaction each.
        .target(name: "Projection",
                dependencies: ["TrialDomain", "TrialDomainPostgres", "Kafka", "Postgres", "AuditChain", "Anchoring", "ServiceRuntime",
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                resources: [.copy("Migrations")],
                swiftSettings: strict),
        // ingest's HTTP application, built by the executable and by tests alike.
        .target(name: "IngestApp",
                dependencies: ["TrialDomain", "TrialDomainPostgres", "TrialAuth", "Kafka", "Postgres", "AuditChain", "ServiceRuntime", "Telemetry",
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "NIOCore", package: "swift-nio"),
                               .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // Issue 17: CDISC exports (SDTM as SAS XPORT v5 and Dataset-JSON 1.1, define.xml 2.1, ODM 1.3.2 with audit
        // records): pure writers over the read models and the archive.
        .target(name: "Exports", dependencies: ["Postgres", "TrialDomain", "TrialDomainPostgres"], swiftSettings: strict),
        // Read-side queries for monitors and auditors.
        .target(name: "Reporting",
                dependencies: ["Postgres", "TrialDomain", "TrialDomainPostgres", "AuditChain", "Anchoring", "ServiceRuntime",
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                swiftSettings: strict),
        // Issue 17: the monitors' dashboard (`reporter serve`): HTML over the monitoring read models as trial_monitor,
        // ingest's tokens, live critical signals by server-sent events.
        .target(name: "Dashboard",
                dependencies: ["Reporting", "Postgres", "TrialAuth", "TrialDomain", "TrialDomainPostgres", "IngestApp", "ServiceRuntime",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                swiftSettings: strict),
        // What the executables share at run time: typed configuration from the environment (and *_FILE secrets),
        // database roles, the logging set-up, malloc arenas, and the one lifecycle of every long-running process (a
        // service group stopped by SIGTERM/SIGINT; blocking work on a thread of its own). Kept out of the pure core.
        .target(name: "ServiceRuntime",
                dependencies: [.product(name: "Logging", package: "swift-log"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                swiftSettings: strict),
        // Operations: the Prometheus registry behind swift-metrics, `/metrics` `/health` `/ready` over HTTP, process
        // gauges. The executables bootstrap it; libraries record through swift-metrics only (never Prometheus directly).
        .target(name: "Telemetry",
                dependencies: [.product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // The archive's hash chain: one definition, used by the projector (writing) and auditors (verifying).
        // Also the content digest of an event, one definition for ingest (refusing a reused event_id) and the projector.
        .target(name: "AuditChain", dependencies: ["TrialDomain", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: strict),
        // Signed chain heads published to Kafka, outside the database's reach: written by the projector, read by auditors.
        .target(name: "Anchoring",
                dependencies: ["AuditChain", "Kafka", "TrialDomain", .product(name: "Crypto", package: "swift-crypto"),
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // The simulated study: shared by the demo, the tests and the benchmarks.
        .target(name: "Simulator", dependencies: ["TrialDomain", "TrialAuth"], swiftSettings: strict),

        // Thin executables.
        .executableTarget(name: "ingest",
                          dependencies: ["IngestApp", "TrialAuth", "TrialDomain", "Kafka", "ServiceRuntime", "Telemetry",
                                         .product(name: "Logging", package: "swift-log"),
                                         .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Hummingbird", package: "hummingbird")],
                          swiftSettings: strict,
                          // jemalloc instead of glibc's malloc: ingest builds and frees a JSON tree per event on
                          // whichever thread a task resumes, and glibc's arena locks took a third of its CPU under
                          // load (batch 30,800 → 72,000 events/s; see README "Performance"). Debian: libjemalloc-dev to build,
                          // libjemalloc2 to run.
                          linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]),
        .executableTarget(name: "projector",
                          dependencies: ["Projection", "Kafka", "Postgres", "ServiceRuntime", "Telemetry",
                                         .product(name: "Logging", package: "swift-log"),
                                         .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),
        .executableTarget(name: "reporter",
                          dependencies: ["Reporting", "Dashboard", "Exports", "Postgres", "TrialDomain", "ServiceRuntime", "Projection", "Anchoring", "Kafka", "Telemetry",
                                         .product(name: "Logging", package: "swift-log"),
                                         .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),
        .executableTarget(name: "devbroker",
                          dependencies: ["Kafka", "ServiceRuntime",
                                         .product(name: "Logging", package: "swift-log"),
                                         .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),
        .executableTarget(name: "simulator",
                          dependencies: ["Simulator", "TrialAuth", "TrialDomain", "ServiceRuntime",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),

        // Development only: the measurements behind ./scripts/bench.
        .executableTarget(name: "bench",
                          dependencies: ["Simulator", "TrialAuth", "TrialDomain", "Kafka", "Postgres", "Projection", "AuditChain",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Histogram", package: "hdrhistogram-swift"),
                                         .product(name: "Logging", package: "swift-log"),
                                         // A NIO keep-alive HTTP client for the freshness run (URLSession cost the
                                         // load generator more CPU than the projector it measures).
                                         .product(name: "HummingbirdTesting", package: "hummingbird"),
                                         .product(name: "NIOCore", package: "swift-nio")],
                          swiftSettings: strict),

        // What the test targets share: the example corpus loader, where the repository and executables are, the trait
        // that skips stack-dependent tests with a clear message, and the helpers of the tests that need the stack (a
        // database or topic of their own, the real executables as processes, a projector on a thread, ingest in-process,
        // a raw TCP client, how a child process ended). Not part of any product.
        .target(name: "TestSupport",
                dependencies: ["TrialDomain", "TrialAuth", "Simulator", "Kafka", "Postgres", "Projection", "ServiceRuntime", "IngestApp",
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "NIOCore", package: "swift-nio"),
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "HummingbirdTesting", package: "hummingbird")],
                path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "TestSupportTests", dependencies: ["TestSupport"], swiftSettings: strict),

        // One test target per module under test.
        .testTarget(name: "TrialDomainTests", dependencies: ["TrialDomain", "Simulator", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "TrialAuthTests",
                    dependencies: ["TrialAuth", "TrialDomain", .product(name: "JWTKit", package: "jwt-kit")],
                    swiftSettings: strict),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "TrialDomain"], swiftSettings: strict),
        .testTarget(name: "ServiceRuntimeTests", dependencies: ["ServiceRuntime"], swiftSettings: strict),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TrialDomain", "TrialDomainPostgres", "TestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ProjectionTests",
                    dependencies: ["Projection", "AuditChain", "Kafka", "Postgres", "ServiceRuntime", "Simulator", "TrialDomain", "TestSupport",
                                   .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "ReportingTests",
                    dependencies: ["Reporting", "Projection", "Postgres", "ServiceRuntime", "Simulator", "TrialDomain", "TestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "DashboardTests",
                    dependencies: ["Dashboard", "Reporting", "Projection", "Postgres", "Simulator", "TrialAuth", "TrialDomain", "TestSupport",
                                   .product(name: "Hummingbird", package: "hummingbird"),
                                   .product(name: "HummingbirdTesting", package: "hummingbird")],
                    exclude: ["Browser"], swiftSettings: strict),
        .testTarget(name: "ExportsTests",
                    dependencies: ["Exports", "Projection", "Postgres", "ServiceRuntime", "Simulator", "TrialDomain", "TrialDomainPostgres",
                                   "TestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "AnchoringTests",
                    dependencies: ["Anchoring", "AuditChain", "Kafka", "Postgres", "Projection", "Reporting", "ServiceRuntime", "Simulator",
                                   "TrialDomain", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
                    swiftSettings: strict),
        .testTarget(name: "IngestAppTests",
                    dependencies: ["IngestApp", "Kafka", "Postgres", "Projection", "ServiceRuntime", "Simulator", "TrialAuth", "TrialDomain",
                                   "TestSupport",
                                   .product(name: "NIOCore", package: "swift-nio"),
                                   .product(name: "Hummingbird", package: "hummingbird"),
                                   .product(name: "HummingbirdTesting", package: "hummingbird")],
                    swiftSettings: strict),

        // End to end: several executables and modules together (faults, several projectors, trust holes through
        // ingest, fuzzing, database roles, shutdown, operations, the scripts and deployment files).
        .testTarget(name: "IntegrationTests",
                    dependencies: ["IngestApp", "Projection", "Reporting", "Simulator", "TrialAuth", "TrialDomain", "Kafka", "Postgres",
                                   "ServiceRuntime", "TestSupport",
                                   .product(name: "NIOCore", package: "swift-nio"),
                                   .product(name: "Hummingbird", package: "hummingbird"),
                                   .product(name: "HummingbirdTesting", package: "hummingbird")],
                    swiftSettings: strict),
    ]
)
