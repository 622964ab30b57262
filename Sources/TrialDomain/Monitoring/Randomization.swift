/// System-owned randomization (issue 16): which kit each randomization request gets, as a pure function of the log.
///
/// **Order.** Kits are handed out in the order the requests stand in the log: a stratum's next unused kit goes to the
/// next request naming the stratum. Ingest keys every `randomization.schedule_loaded` and every
/// `participant.randomization_requested` of a study by the study id (`RecordedEvent.partitionKey`), so they all stand
/// on one Kafka partition, in one order that every consumer and every replay of the log sees; the archive keeps that
/// order in `chain_seq` (a partition's records are archived in offset order), and a rebuild reads it from there. No
/// clock decides (neither the site's `occurred_at` nor the server's `recorded_at`): two sites asking in the same
/// millisecond get kits in the order the broker appended their requests, and a kit once shown to a site never moves to
/// another participant, because a new request can only come after every request already archived.
///
/// What a different arrival order would mean: a log whose randomization records were reordered (re-partitioned by
/// another key, or merged from two topics) would be a different allocation history, and replaying it would hand kits to
/// other participants than the sites were told. That is why the order is pinned to one partition and to the archive's
/// hash chain: `reporter audit verify` detects a reordered archive, and a rebuild from the archive reproduces every
/// assignment exactly (property-tested: any interleaving of the other partitions gives the same kits).
///
/// **Nothing of another partition moves a kit.** Whether a participant should have been randomized (enrolled, not
/// withdrawn or completed, not already allocated by their site) depends on records keyed by the participant, which
/// stand on other partitions and may reach the archive before or after the request, in another order on every
/// re-projection. So those never decide a kit: a request the study's partition orders gets the stratum's next kit
/// (ingest refuses the ineligible ones before they are logged), and whatever the whole log says against it raises a
/// `randomization_review` warning naming the kit, never an arm (review finding: an enrolment archived after its request
/// gave the request's kit to the next participant, after the site had been shown it). A kit handed out is never taken
/// back, as in any interactive randomization system.
///
/// Site-submitted `participant.randomized` (the path before issue 16) is judged by the server's clock, which is part of
/// the record: one recorded before the study's first schedule is a valid allocation of an old log (a later system kit
/// for the participant raises `randomization_review`); one recorded after it raises `randomization_outside_system` and
/// is not used.
public enum Randomization {
    /// A kit of a loaded schedule (`unblinded.randomization_kits`): holds the arm.
    public struct KitRow: Sendable, Equatable {
        public var studyID: String
        public var stratum: String
        /// 1-based position within the stratum: the order kits are handed out.
        public var position: Int
        /// 1-based block within the schedule event's stratum.
        public var block: Int
        public var kitNumber: String
        public var arm: String
        /// Whether `arm` is the schedule's control (placebo) arm.
        public var control: Bool
        public var scheduleEventID: String
        public var scheduleID: String
        public var assignedTo: String?
        public var assignedBy: String?
    }

    /// A randomization request and its answer (`monitoring.randomizations`): the kit, never the arm.
    public struct RequestRow: Sendable, Equatable {
        public var eventID: String
        public var studyID: String
        public var siteID: String
        public var participantID: String
        public var stratum: String
        public var requestedBy: String
        public var requestedAt: Timestamp
        /// The request's clinical time (`occurred_at`), not stored: compared with a later-entered end of participation.
        public var requestedOn: Timestamp
        public var kitNumber: String?
        public var refusal: String?
    }

    /// A schedule load (`monitoring.randomization_schedules`): counts only, never an arm.
    public struct ScheduleRow: Sendable, Equatable {
        public var eventID: String
        public var studyID: String
        public var scheduleID: String
        public var loadedBy: String
        public var loadedAt: Timestamp
        public var strata: Int
        public var kits: Int
        /// Kits whose number an earlier schedule of the study already loaded: not loaded again.
        public var kitsIgnored: Int
        /// Why the whole schedule was ignored: it contradicts the study's first schedule (other arms or control arm).
        public var refusal: String? = nil
    }

    /// What a blinded label holds in an arm (`unblinded.blinded_contents`), from the study's schedules: the first
    /// schedule stating an arm and label decides (a later one cannot change what kits already given held).
    public struct ContentRow: Sendable, Equatable {
        public var studyID: String
        public var arm: String
        public var blindedLabel: String
        public var substance: Substance
        public var quantity: Quantity
        public var scheduleEventID: String
    }

    public struct Outcome: Sendable, Equatable {
        public var kits: [KitRow] = []
        public var contents: [ContentRow] = []
        public var requests: [RequestRow] = []
        public var schedules: [ScheduleRow] = []
        public var signals: [SignalRow] = []

        /// What the blinded-dose rules need of the allocation: each participant's kit, the labels the schedules state.
        public var allocation: Allocation {
            var allocation = Allocation()
            for kit in kits { if let participant = kit.assignedTo { allocation.kitOf[kit.studyID + "|" + participant] = kit.kitNumber } }
            for c in contents { allocation.labels[c.studyID, default: []].insert(c.blindedLabel) }
            return allocation
        }
    }

    /// The allocation a blinded dose is judged against (`doseSignals`): kits by "study|participant", and the blinded labels
    /// each study's schedules state (a study without stated contents has no entry, and no label is unknown in it).
    public struct Allocation: Sendable, Equatable {
        public var kitOf: [String: String] = [:]
        public var labels: [String: Set<String>] = [:]
        public init(kitOf: [String: String] = [:], labels: [String: Set<String>] = [:]) {
            self.kitOf = kitOf
            self.labels = labels
        }
    }

    /// The rules `doseSignals` judges; the others are the allocation's (`assign`).
    public static let doseRules: [SafetyRule] = [.doseKitMismatch, .blindedLabelUnknown]

    /// Whether `doseSignals` reads the event: a dose, or a correction or void of one (every dose: a correction may give an
    /// open dose a kit, and it applies only with its original).
    public static func isDoseRecord(_ e: RecordedEvent) -> Bool {
        e.type == .doseAdministered || e.payload.changedEventType == .doseAdministered
    }

    /// A monitor's acknowledgement of one of these signals.
    public struct Acknowledgement: Sendable, Equatable {
        public var by: String
        public var at: Timestamp
        public init(by: String, at: Timestamp) {
            self.by = by
            self.at = at
        }
    }

    /// The rows of every study in `events`: its schedules and requests **in log order** (archive `chain_seq`), and its
    /// site-submitted `participant.randomized` records in any order. Other events are ignored.
    public static func assign(_ events: [RecordedEvent], acknowledgements: [String: Acknowledgement] = [:]) -> Outcome {
        var out = Outcome()
        // The first schedule of each study, in log order: site allocations recorded before it are valid.
        var firstSchedule: [String: Timestamp] = [:]
        for e in events where e.type == .randomizationScheduleLoaded && firstSchedule[e.studyID] == nil {
            firstSchedule[e.studyID] = e.recordedAt
        }
        var randomizedBySite: Set<String> = []
        for e in events.sorted(by: { $0.eventID < $1.eventID }) {
            guard case .participantRandomized = e.payload, let participant = e.participantID, let site = e.siteID else { continue }
            if let first = firstSchedule[e.studyID], e.recordedAt >= first {
                out.signals.append(signal(.randomizationOutsideSystem, e, site: site, participant: participant,
                                          "participant.randomized recorded after the study's randomization schedule was loaded "
                                              + "(\(first.utc(.minute))): its kit and arm are not used; the system assigns kits "
                                              + "(participant.randomization_requested)", acknowledgements))
            } else {
                randomizedBySite.insert(participant)
            }
        }

        struct Stratum {
            var kits: [Int] = []  // indexes into out.kits
            var next = 0
        }
        var strata: [String: [String: Stratum]] = [:]  // study -> stratum key -> kits
        var loadedKits: [String: Set<String>] = [:]  // study -> kit numbers
        var kitOf: [String: String] = [:]  // "study|participant" -> kit number
        var exhaustedSignals: [String: [Int]] = [:]  // "study|participant" -> indexes into out.signals
        var designs: [String: Design] = [:]  // study -> its first schedule's arms and control
        for e in events {
            switch e.payload {
            case .randomizationScheduleLoaded(let s):
                var row = ScheduleRow(eventID: e.eventID, studyID: e.studyID, scheduleID: s.scheduleID, loadedBy: e.recordedBy,
                                      loadedAt: e.recordedAt, strata: s.strata.count, kits: 0, kitsIgnored: 0)
                // A later schedule only appends kits to the first one's design: other arms or another control arm would
                // make the blinding indices and every kit's meaning ambiguous, so it is ignored whole.
                let design = Design(s)
                if let first = designs[e.studyID], first != design {
                    row.refusal = design.contradiction(of: first)
                    out.signals.append(signal(.randomizationRefused, e, site: nil, participant: nil,
                                              "randomization schedule \(s.scheduleID) ignored: \(row.refusal!)", acknowledgements))
                    out.schedules.append(row)
                    continue
                }
                designs[e.studyID] = designs[e.studyID] ?? design
                for stratum in s.strata {
                    let key = stratum.factors.key
                    var state = strata[e.studyID, default: [:]][key] ?? Stratum()
                    for (b, block) in stratum.blocks.enumerated() {
                        for kit in block {
                            guard loadedKits[e.studyID, default: []].insert(kit.kitNumber).inserted else {
                                row.kitsIgnored += 1
                                continue
                            }
                            row.kits += 1
                            state.kits.append(out.kits.count)
                            out.kits.append(KitRow(studyID: e.studyID, stratum: key, position: state.kits.count, block: b + 1,
                                                   kitNumber: kit.kitNumber, arm: kit.arm, control: kit.arm == s.controlArm,
                                                   scheduleEventID: e.eventID,
                                                   scheduleID: s.scheduleID))
                        }
                    }
                    strata[e.studyID, default: [:]][key] = state
                }
                var contradicted: Set<String> = []  // labels this schedule states otherwise than an earlier one
                for c in s.contents {
                    if let first = out.contents.first(where: { $0.studyID == e.studyID && $0.arm == c.arm && $0.blindedLabel == c.blindedLabel }) {
                        if first.substance != c.substance || first.quantity != c.quantity { contradicted.insert(c.blindedLabel) }
                        continue
                    }
                    out.contents.append(ContentRow(studyID: e.studyID, arm: c.arm, blindedLabel: c.blindedLabel, substance: c.substance,
                                                   quantity: c.quantity, scheduleEventID: e.eventID))
                }
                if !contradicted.isEmpty {
                    // Kits already given hold what the first schedule said: the later contents are not used (no arm named).
                    out.signals.append(signal(.randomizationRefused, e, site: nil, participant: nil,
                                              "randomization schedule \(s.scheduleID) states other contents for label(s) "
                                                  + contradicted.sorted().map { "'\($0)'" }.joined(separator: ", ")
                                                  + " than an earlier schedule: ignored, the earlier contents stand", acknowledgements))
                }
                out.schedules.append(row)
            case .randomizationRequested(let r):
                guard let participant = e.participantID, let site = e.siteID else { continue }
                let who = e.studyID + "|" + participant
                var row = RequestRow(eventID: e.eventID, studyID: e.studyID, siteID: site, participantID: participant,
                                     stratum: r.stratum.key, requestedBy: e.recordedBy, requestedAt: e.recordedAt,
                                     requestedOn: e.occurredAt)
                if let kit = kitOf[who] {
                    row.refusal = "already randomized (kit \(kit)): a participant gets exactly one kit"
                } else if let named = r.stratum.factors["site"], named != site {
                    // A site draws only its own stratum's kits: another's would use them up, or skip a kit it predicted.
                    row.refusal = "the stratum's site factor names \(named), not the requesting site \(site)"
                    out.signals.append(signal(.randomizationRefused, e, site: site, participant: participant,
                                              "randomization request names another site's stratum: participant not randomized",
                                              acknowledgements))
                } else if strata[e.studyID] == nil {
                    row.refusal = "no randomization schedule is loaded for study \(e.studyID)"
                } else if var state = strata[e.studyID]?[r.stratum.key] {
                    if state.next < state.kits.count {
                        let index = state.kits[state.next]
                        state.next += 1
                        strata[e.studyID]![r.stratum.key] = state
                        out.kits[index].assignedTo = participant
                        out.kits[index].assignedBy = e.eventID
                        row.kitNumber = out.kits[index].kitNumber
                        kitOf[who] = row.kitNumber
                        for i in exhaustedSignals[who] ?? [] where out.signals[i].status != .resolved {
                            out.signals[i].status = .resolved
                            out.signals[i].resolution = "randomized by a later request (kit \(row.kitNumber!))"
                        }
                    } else {
                        row.refusal = "no unused kit is left in stratum \(r.stratum.key) (\(state.kits.count) loaded, all assigned)"
                        exhaustedSignals[who, default: []].append(out.signals.count)
                        out.signals.append(signal(.stratumExhausted, e, site: site, participant: participant,
                                                  "stratum \(r.stratum.key) has no unused kit (\(state.kits.count) loaded, all "
                                                      + "assigned): participant not randomized; the unblinded statistician must load "
                                                      + "more kits for the stratum, then the site asks again", acknowledgements))
                    }
                } else {
                    row.refusal = "the randomization schedule has no stratum \(r.stratum.key)"
                    out.signals.append(signal(.randomizationRefused, e, site: site, participant: participant,
                                              "randomization request names stratum \(r.stratum.key), which no loaded schedule has: "
                                                  + "participant not randomized", acknowledgements))
                }
                out.requests.append(row)
            default:
                break
            }
        }
        out.signals += reviewSignals(events, requests: out.requests, randomizedBySite: randomizedBySite, acknowledgements)
        out.signals += doseSignals(events, allocation: out.allocation, acknowledgements: acknowledgements)
        out.signals.sort { $0.signalID < $1.signalID }
        return out
    }

    /// The blinded doses (v3) in `events`, corrections and voids applied, that a monitor must see: one from another kit
    /// than the participant's assigned one (`dose_kit_mismatch`, critical: the participant may have had the other arm's
    /// product; recorded as given, resolved as treated in unblinded), and one whose label the study's schedules do not
    /// state (`blinded_label_unknown`, warning: its content is not resolved). Details name kits and labels, never an arm.
    ///
    /// Each dose is judged on its own against the allocation, so a participant's signals are those of their own dose
    /// records, and new doses (no correction among them) add their own signals without the others being judged again.
    public static func doseSignals(_ events: [RecordedEvent], allocation: Allocation,
                                   acknowledgements: [String: Acknowledgement]) -> [SignalRow] {
        let kitOf = allocation.kitOf, labels = allocation.labels
        let records = events.filter(isDoseRecord)
        var signals: [SignalRow] = []
        for (_, history) in Dictionary(grouping: records, by: { $0.studyID + "|" + ($0.participantID ?? "") }).sorted(by: { $0.key < $1.key }) {
            for entry in EffectiveHistory(history).entries {
                let e = entry.event
                guard case .doseAdministered(let d) = e.payload, let kit = d.kitNumber, let label = d.blindedLabel,
                      let participant = e.participantID, let site = e.siteID else { continue }
                let assigned = kitOf[e.studyID + "|" + participant]
                if assigned != kit {
                    signals.append(signal(.doseKitMismatch, e, site: site, participant: participant,
                                          "blinded dose given from kit \(kit), not the participant's "
                                              + (assigned.map { "assigned kit \($0)" } ?? "kit (none is assigned)")
                                              + ": check the participant and the kit; the dose is counted as treated (by the kit used)",
                                          acknowledgements))
                }
                if let stated = labels[e.studyID], !stated.contains(label) {
                    signals.append(signal(.blindedLabelUnknown, e, site: site, participant: participant,
                                          "blinded dose labelled '\(label)', a label the randomization schedule does not state "
                                              + "(\(stated.sorted().joined(separator: ", "))): correct the dose's blinded_label",
                                          acknowledgements))
                }
            }
        }
        return signals
    }

    /// `randomization_review` warnings, judged from the whole log's content (so any archive order of the same log gives
    /// the same ones; records still to come may add or clear one, never move a kit): a kit assigned to a participant with
    /// no enrolment recorded (server clock) by the request, whose withdrawal or completion was recorded before it, or
    /// whom their site had already randomized before the schedule; and a withdrawal or completion recorded after the
    /// request but dated on or before it. Voided records do not count.
    static func reviewSignals(_ events: [RecordedEvent], requests: [RequestRow], randomizedBySite: Set<String>,
                              _ acknowledgements: [String: Acknowledgement]) -> [SignalRow] {
        var voided: Set<String> = []
        for e in events { if case .eventVoided(let v) = e.payload { voided.insert(v.voidedEventID) } }
        var participation: [String: [RecordedEvent]] = [:]  // "study|participant" -> enrolments, withdrawals, completions
        for e in events where !voided.contains(e.eventID) {
            guard e.type == .participantEnrolled || e.type == .participantWithdrawn || e.type == .participantCompleted,
                  let participant = e.participantID else { continue }
            participation[e.studyID + "|" + participant, default: []].append(e)
        }
        let byID = Dictionary(events.map { ($0.eventID, $0) }, uniquingKeysWith: { a, _ in a })
        var signals: [SignalRow] = []
        for request in requests {
            guard let kit = request.kitNumber, let e = byID[request.eventID] else { continue }
            let records = participation[request.studyID + "|" + request.participantID] ?? []
            var reasons: [String] = []
            if !records.contains(where: { $0.type == .participantEnrolled && $0.recordedAt <= request.requestedAt }) {
                reasons.append("no enrolment (participant.enrolled) was recorded by the request")
            }
            if records.contains(where: { $0.type != .participantEnrolled && $0.recordedAt < request.requestedAt }) {
                reasons.append("the participant's withdrawal or completion was recorded before the request")
            }
            if randomizedBySite.contains(request.participantID) {
                reasons.append("the site had randomized the participant before the schedule was loaded (participant.randomized)")
            }
            if !reasons.isEmpty {
                signals.append(signal(.randomizationReview, e, site: request.siteID, participant: request.participantID,
                                      "kit \(kit) was assigned although " + reasons.joined(separator: "; ")
                                          + ": a kit is never taken back; check the participant's records and correct the one that is wrong",
                                      acknowledgements))
            }
            for ended in records where ended.type != .participantEnrolled
                && ended.recordedAt >= request.requestedAt && ended.occurredAt <= request.requestedOn {
                signals.append(signal(.randomizationReview, ended, site: ended.siteID, participant: request.participantID,
                                      "\(ended.type.rawValue) entered after the participant was randomized dates the end of participation "
                                          + "(\(ended.occurredAt.utc(.minute))) on or before the randomization request "
                                          + "(\(request.requestedOn.utc(.minute))): kit \(kit) stays assigned (a kit is never taken back); "
                                          + "check the dates and correct the record that is wrong", acknowledgements))
            }
        }
        return signals
    }

    /// What every schedule of a study must agree on: its arms (as a set) and its control arm.
    public struct Design: Sendable, Equatable {
        public var arms: Set<String>
        public var controlArm: String

        public init(_ schedule: RandomizationScheduleLoaded) {
            arms = Set(schedule.arms)
            controlArm = schedule.controlArm
        }

        /// Why `self` contradicts `first`, naming no arm (the text reaches monitors and sites).
        public func contradiction(of first: Design) -> String {
            arms != first.arms ? "its arms differ from the study's first schedule (a later schedule only appends kits)"
                : "its control arm differs from the study's first schedule (a later schedule only appends kits)"
        }
    }

    private static func signal(_ rule: SafetyRule, _ e: RecordedEvent, site: String?, participant: String?, _ details: String,
                               _ acknowledgements: [String: Acknowledgement]) -> SignalRow {
        let id = SignalRow.id(rule, e.eventID)
        let ack = acknowledgements[id]
        return SignalRow(signalID: id, rule: rule, siteID: site, participantID: participant, triggerEventID: e.eventID,
                         triggerOccurredAt: e.occurredAt, details: details, status: ack == nil ? .open : .acknowledged,
                         acknowledgedBy: ack?.by, acknowledgedAt: ack?.at, deadline: nil, resolution: nil)
    }
}
