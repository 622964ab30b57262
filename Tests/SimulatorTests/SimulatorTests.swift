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
        // The system randomizes (issue 16): a site's own allocation (participant.randomized) is refused once a schedule is
        // loaded, and the blind is broken through the system (unblinding.requested), never at the site: old logs only.
        let oldLogsOnly: Set<EventType> = [.participantRandomized, .unblindingPerformed]
        #expect(types.isDisjoint(with: oldLogsOnly), "sent by sites before issue 16 only: \(types.intersection(oldLogsOnly))")
        // Signatures name records by the hashes the server gives them, so the simulator command signs at send time
        // (`CasebookSignOff`, tested through ingest in SignaturesIntegrationTests), not in the pure study.
        let signedAtSendTime: Set<EventType> = [.signatureApplied]
        let expected = Set(EventType.allCases).subtracting(oldLogsOnly).subtracting(signedAtSendTime)
        #expect(types == expected, "missing: \(expected.subtracting(types))")
    }

    @Test func sameSeedSameStudy() {
        let a = StudySimulator(configuration: configuration).submissions().map(\.json)
        let b = StudySimulator(configuration: configuration).submissions().map(\.json)
        #expect(a == b)
        var other = configuration
        other.seed = 7
        #expect(StudySimulator(configuration: other).submissions().map(\.json) != a)
    }

    /// The simulated study as ingest would record it, and its protocol history (what the folds need).
    func simulatedStudy() throws -> (events: [RecordedEvent], protocols: ProtocolHistory) {
        let validator = EventValidator()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        let events = try StudySimulator(configuration: configuration).submissions().map {
            try validator.validateSubmission($0.json, recordedAt: later, recordedBy: $0.sender).get()
        }
        return (events, ProtocolHistory(events: EffectiveHistory(events.filter { $0.siteID == nil }).entries.map(\.event)))
    }

    @Test func dosesFollowTheTitrationProtocol() throws {
        let validator = EventValidator()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        // Blinded (issue 16): the level is the label's; no dose names a substance or amount.
        let doses = try StudySimulator(configuration: configuration).submissions().compactMap { s -> DoseAdministered? in
            guard case .doseAdministered(let d) = try validator.validateSubmission(s.json, recordedAt: later, recordedBy: "x").get().payload
            else { return nil }
            return d
        }
        let levels = doses.compactMap { $0.blindedLabel.flatMap { Int($0.split(separator: " ").last ?? "") } }
        #expect(!doses.isEmpty && levels.count == doses.count && doses.allSatisfy { $0.substance == nil && $0.amount == nil })
        #expect(levels.allSatisfy { (5...14).contains($0) })
        #expect(levels.contains(8) && levels.contains(14))
    }
}

extension SimulatorTests {
    /// The simulated study's medication cases fire what they stand for, through the same fold the projector runs:
    /// S01-0002's lithium, disclosed at week 2, flags the four doses given before it (and no later one: dosing is
    /// withheld for its washout); S01-0003's sertraline raised in week 7 is an antidepressant change and, under the
    /// amended protocol, a deviation; participants on a stable SSRI raise nothing.
    @Test func theMedicationCasesFire() throws {
        let (events, protocols) = try simulatedStudy()
        func rows(_ participant: String) -> ParticipantRows {
            ParticipantFold.rows(participantID: participant, events: events.filter { $0.participantID == participant }, protocols: protocols)
        }
        let lithium = rows("S01-0002")
        let doseIDs = Set(lithium.doses.map(\.eventID))
        let flagged = lithium.signals.filter { $0.rule == .contraindicatedMedication && doseIDs.contains($0.triggerEventID) }
        // Taken before Day 1 too: the start itself is critical, open (dosing began inside what would be its washout).
        #expect(lithium.signals.filter { $0.rule == .contraindicatedMedication && !doseIDs.contains($0.triggerEventID) }.map(\.status) == [.open])
        let dosesBefore = lithium.doses.filter { $0.administeredAt.utcDate < (lithium.medications.first?.stoppedOn ?? "") }
        #expect(flagged.count == 4 && Set(flagged.map(\.triggerEventID)) == Set(dosesBefore.map(\.eventID)))
        let raised = rows("S01-0003")
        #expect(raised.signals.filter { $0.rule == .antidepressantChange }.count == 1)
        #expect(raised.deviations.filter { $0.detectedBy == .antidepressantChange }.count == 1)
        for stable in ["S01-0001", "S02-0005"] {
            #expect(rows(stable).medications.map(\.name) == ["sertraline"])
            #expect(rows(stable).signals.filter { [.antidepressantChange, .contraindicatedMedication].contains($0.rule) }.isEmpty)
        }
    }

    /// Data queries (issue 15): each site's first participant's vital signs are queried, answered and closed; at the
    /// first site reopened and answered again with the correction of the queried event; at the last site a second query
    /// stays open; no step is refused (each fits the query's state, in the order the study sends them).
    @Test func monitorsQuerySitesAnswerOneWithACorrectionAndOneStaysOpen() throws {
        let validator = EventValidator()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        let events = try StudySimulator(configuration: configuration).submissions().map {
            try validator.validateSubmission($0.json, recordedAt: later, recordedBy: $0.sender).get()
        }
        let targets = Dictionary(uniqueKeysWithValues: events.map {
            ($0.eventID, DataQueries.Target(participantID: $0.participantID, type: $0.type, changedEventID: $0.payload.changedEventID,
                                            data: $0.data))
        })
        var queries: [DataQueries.QueryRow] = []
        var steps: [DataQueries.StepRow] = []
        for (_, history) in Dictionary(grouping: events.filter { $0.participantID != nil }, by: { $0.participantID! }) {
            let rows = DataQueries.rows(history, targets: targets)
            queries += rows.queries
            steps += rows.steps
        }
        #expect(steps.allSatisfy { $0.refusal == nil }, "\(steps.compactMap(\.refusal))")
        #expect(queries.filter { $0.status == .closed }.map(\.siteID).sorted() == ["S01", "S02", "S03"])
        #expect(queries.filter { $0.status == .open }.map(\.siteID) == ["S03"])
        let reopened = queries.filter { $0.reopenings > 0 }
        #expect(reopened.count == 1 && reopened.first?.siteID == "S01" && reopened.first?.correctionEventID != nil)
    }
}

extension SimulatorTests {
    /// Issue 14, chain of custody: every site counts its lot at the end, and every count agrees with the lot's balance;
    /// at the first site 20 ug went missing and was reported as a loss (critical `drug_loss`, with its DEA deadline),
    /// which the count agrees with once the loss is booked. Every dose was dispensed to its participant, none expired.
    @Test func theInventoryCountsAgreeAndTheLossIsReported() throws {
        let (events, protocols) = try simulatedStudy()
        for site in ["S01", "S02", "S03"] {
            let siteRows = SiteFold.rows(siteID: site, events: events.filter { $0.siteID == site && $0.participantID == nil })
            var movements = siteRows.movements
            var doses: [LotCustody.Dose] = []
            for participant in Set(events.filter { $0.siteID == site }.compactMap(\.participantID)) {
                let rows = ParticipantFold.rows(participantID: participant, events: events.filter { $0.participantID == participant },
                                                protocols: protocols)
                movements += rows.movements
                doses += rows.doses.map { LotCustody.Dose(eventID: $0.eventID, participantID: participant, administeredAt: $0.administeredAt,
                                                          administeredOn: $0.administeredOn) }
            }
            let lot = "LSD-2026-A"  // the study lot the simulator receives at every site
            let judged = LotCustody.judge(siteID: site, lot: lot, movements: movements.filter { $0.lot == lot }, doses: doses, counts: siteRows.counts)
            #expect(judged.counts.count == 1 && judged.counts.allSatisfy { $0.discrepancy == nil }, "\(site): \(judged.counts)")
            #expect(judged.signals.isEmpty, "\(site): \(judged.signals.map(\.details))")
            let losses = siteRows.signals.filter { $0.rule == .drugLoss }
            #expect(losses.count == (site == "S01" ? 1 : 0) && losses.allSatisfy { $0.deadline != nil && $0.severity == .critical })
        }
    }

    /// Issue 16: the statistician loads the schedule, every site asks for its participants' kits, and each gets one (the
    /// strata hold enough); participants and raters assess the blind at weeks 4 and 8 unless withdrawn; no site-role
    /// submission carries an arm.
    @Test func theSystemRandomizesEveryParticipantAndTheBlindIsAssessed() throws {
        let submissions = StudySimulator(configuration: configuration).submissions()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        let events = try submissions.map { try EventValidator().validateSubmission($0.json, recordedAt: later, recordedBy: $0.sender).get() }
        let outcome = Randomization.assign(events)
        let enrolled = Set(events.filter { $0.type == .participantEnrolled }.compactMap(\.participantID))
        #expect(outcome.requests.count == enrolled.count && outcome.requests.allSatisfy { $0.kitNumber != nil })
        #expect(Set(outcome.requests.map(\.participantID)) == enrolled && outcome.signals.isEmpty)
        #expect(outcome.schedules.count == 1 && outcome.kits.count >= enrolled.count)
        // Permuted blocks of four: every complete block holds two kits of each arm.
        for (_, kits) in Dictionary(grouping: outcome.kits, by: \.stratum) {
            for block in stride(from: 0, to: kits.count - kits.count % 4, by: 4) {
                #expect(kits[block..<block + 4].filter(\.control).count == 2)
            }
        }
        let withdrawn = Set(events.filter { $0.type == .participantWithdrawn }.compactMap(\.participantID))
        let assessed = Dictionary(grouping: events.filter { $0.type == .blindingAssessed }, by: { $0.participantID! })
        for participant in enrolled.subtracting(withdrawn) {
            #expect(assessed[participant]?.count == 4, "\(participant): weeks 4 and 8, participant and rater")
        }
        // Only the statistician's submission names an arm; no site-role submission carries one.
        let arms = ["microdose", "placebo"]
        for submission in submissions where submission.role.isSiteBound {
            let type = submission.json["type"]?.stringValue
            guard type != EventType.blindingAssessed.rawValue else { continue }  // a guess ("placebo") is no arm
            let text = CanonicalJSON.string(submission.json)
            #expect(arms.allSatisfy { !text.contains("\"\($0)\"") }, "\(type ?? "?") carries an arm")
        }
        #expect(submissions.filter { $0.role == .unblindedStatistician }.count == 1)
    }
}
