import Foundation
import Simulator
import Testing
@testable import TrialDomain

@Suite("Simulated study")
struct SimulatorTests {
    let configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)

    @Test func everySimulatedEventIsValid() throws {
        let submissions = StudySimulator(configuration: configuration).submissions()
        #expect(submissions.count > 30 * 20)
        let validator = EventValidator()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        var ids = Set<String>()
        var types = Set<EventType>()
        for submission in submissions {
            let event = try validator.validateSubmission(submission.json, recordedAt: later, recordedBy: "sim").get()
            let sender = Principal(subject: submission.sender, site: submission.role.isSiteBound ? submission.siteID : nil,
                                   role: submission.role)
            #expect(Authorization.check(sender, mayRecord: event) == nil, "\(submission.sender) may not send \(event.type)")
            ids.insert(event.eventID)
            types.insert(event.type)
        }
        #expect(ids.count == submissions.count, "event ids must be unique")
        #expect(types == Set(EventType.allCases), "missing: \(Set(EventType.allCases).subtracting(types))")
    }

    @Test func sameSeedSameStudy() {
        let a = StudySimulator(configuration: configuration).submissions().map(\.json)
        let b = StudySimulator(configuration: configuration).submissions().map(\.json)
        #expect(a == b)
        var other = configuration
        other.seed = 7
        #expect(StudySimulator(configuration: other).submissions().map(\.json) != a)
    }

    @Test func dosesFollowTheTitrationProtocol() throws {
        let validator = EventValidator()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        let doses = try StudySimulator(configuration: configuration).submissions().compactMap { s -> Double? in
            guard case .doseAdministered(let d) = try validator.validateSubmission(s.json, recordedAt: later, recordedBy: "x").get().payload
            else { return nil }
            return d.amount
        }
        #expect(doses.allSatisfy { (5...14).contains($0) })
        #expect(doses.contains(8) && doses.contains(14))
    }
}
