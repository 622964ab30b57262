import ArgumentParser
import Foundation
import ServiceRuntime
import Simulator
import TrialAuth
import TrialDomain

@main
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Runs a simulated multi-site microdosing study through ingest's HTTP API (development only).")

    @Option(help: "Number of sites.")
    var sites = 3

    @Option(help: "Participants per site.")
    var participantsPerSite = 10

    @Option(help: "Weeks of dosing.")
    var weeks = 8

    @Option(help: "Random seed; the same seed gives the same study.")
    var seed: UInt64 = 42

    @Option(help: "Events per HTTP batch.")
    var batchSize = 500

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let ingestURL = try EnvironmentReader(environment).string("INGEST_URL", default: "http://127.0.0.1:8080")
        guard let baseURL = URL(string: ingestURL) else { throw ValidationError("INGEST_URL '\(ingestURL)' is not a URL") }
        guard let secret = environment["INGEST_JWT_SECRET"], !secret.isEmpty else {
            throw ValidationError("INGEST_JWT_SECRET is not set; source .stack/env")
        }
        let authority = try await TokenAuthority(secret: secret)
        // The study started `weeks` + 2 weeks before today (midnight UTC), so every event lies in the past
        // and a second run on the same day resends identical events: ingest accepts them, the projector records them once.
        let today = Int64(Date().timeIntervalSince1970) / 86_400 * 86_400
        let midnight = Timestamp(microsecondsSinceEpoch: today * 1_000_000)
        var configuration = StudySimulator.Configuration(start: midnight.adding(days: -(weeks * 7 + 14)))
        configuration.sites = sites
        configuration.participantsPerSite = participantsPerSite
        configuration.weeks = weeks
        configuration.seed = seed
        let simulator = StudySimulator(configuration: configuration)
        let submissions = simulator.submissions()
        let client = IngestClient(baseURL: baseURL, batchSize: batchSize)
        let started = Date()
        var total = try await StudySimulator.send(submissions, through: client, authority: authority)
        // Last, the investigator signs off each participant's casebook once it is archived (through the site read API).
        let signOff = CasebookSignOff(client: client, authority: authority, studyID: configuration.studyID, signedAt: midnight, seed: seed)
        switch try await signOff.sign(submissions) {
        case .signed(let n): total += n
        case .noReadAPI: print("simulator: casebooks not signed: ingest has no read database (set INGEST_DATABASE_URL)")
        }
        let seconds = Date().timeIntervalSince(started)
        print("simulator: \(total) events from \(sites) sites accepted by ingest in \(String(format: "%.2f", seconds)) s")
    }
}
