import ArgumentParser
import Dashboard
import Foundation
import Logging
import ServiceLifecycle
import ServiceRuntime

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The monitors' dashboard over HTTP (issue 17): overview, sites, participants, signals (live), accountability; for monitors, sponsors and auditors with their bearer token, read as trial_monitor.")

    @Option(help: "Port to listen on (default: REPORTER_SERVE_PORT, else 8090; 0: any free port).")
    var port: Int?

    func run() async throws {
        var configuration = try DashboardConfiguration.fromEnvironment(ProcessInfo.processInfo.environment)
        if let port { configuration.port = port }
        let logger = Logger(label: "reporter")
        let app = try await buildDashboardApplication(configuration: configuration, logger: logger)
        logger.info("monitors' dashboard", metadata: ["address": "http://\(configuration.host):\(configuration.port)/"])
        try await ServiceGroup.runUntilStopSignal([app], logger: logger)
    }
}
