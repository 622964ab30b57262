/// The safety rules, parameterised by the protocol version in force when each event happened.
public enum SafetyRules {
    /// A rule that fired on an event.
    public struct Finding: Sendable, Equatable {
        public var rule: SafetyRule
        public var triggerEventID: String
        public var occurredAt: Timestamp
        public var details: String
        public var deadline: Timestamp?
    }

    /// Monitors read signal details, so they never name a substance, amount, unit or lot: with an active placebo
    /// (caffeine in mg beside LSD in µg) any of them reveals the arm. Who may see them reads unblinded.dose_products.
    static let unblindedAmounts = " (amounts: unblinded.dose_products)"

    /// Every finding of a participant's history (chronological entries).
    public static func evaluate(_ entries: [EffectiveHistory.Entry], protocols: ProtocolHistory) -> [Finding] {
        var findings: [Finding] = []
        func fire(_ rule: SafetyRule, _ event: RecordedEvent, _ details: String, deadline: Timestamp? = nil) {
            findings.append(Finding(rule: rule, triggerEventID: event.eventID, occurredAt: event.occurredAt, details: details,
                                    deadline: deadline))
        }
        // Participation window: consent (at enrolment) to withdrawal or completion.
        var consentedAt: Timestamp?
        var endedAt: Timestamp?
        for entry in entries {
            switch entry.event.payload {
            case .participantEnrolled(let p): consentedAt = consentedAt ?? p.consentedAt
            case .participantWithdrawn, .participantCompleted: endedAt = min(endedAt ?? entry.event.occurredAt, entry.event.occurredAt)
            default: break
            }
        }
        var doses: [(event: RecordedEvent, dose: DoseAdministered)] = []
        var firstDoseAt: Timestamp?
        for entry in entries {
            if case .doseAdministered(let d) = entry.event.payload {
                firstDoseAt = firstDoseAt ?? entry.event.occurredAt
                doses.append((entry.event, d))
            }
        }
        var baselines: [Instrument: Int] = [:]
        var adverse: [String: (event: RecordedEvent, state: AdverseEventReported)] = [:]
        var previousDose: [Substance: DoseAdministered] = [:]
        var previousDoseAt: Timestamp?
        var recentDoses: [Timestamp] = []

        for entry in entries {
            let e = entry.event
            let version = protocols.inForce(at: e.occurredAt)
            let thresholds = version?.rules.safetyThresholds ?? .domainDefaults
            let label = version.map { "protocol \($0.version)" } ?? "the protocol"
            switch e.payload {
            case .doseAdministered(let d):
                if let consentedAt, e.occurredAt < consentedAt {
                    fire(.doseOutsideParticipation, e, "dose given before consent (\(consentedAt.rfc3339))")
                } else if consentedAt == nil {
                    fire(.doseOutsideParticipation, e, "dose given to a participant with no enrolment on record")
                } else if let endedAt, e.occurredAt >= endedAt {
                    fire(.doseOutsideParticipation, e, "dose given after withdrawal or completion (\(endedAt.rfc3339))")
                }
                if let rules = version?.rules {
                    if let rule = rules.substances.first(where: { $0.substance == d.substance }), rule.units.contains(d.unit) {
                        if d.amount > rule.maxDose {
                            fire(.doseAboveMax, e, "dose above the \(label) maximum for the product given\(unblindedAmounts)")
                        } else if d.amount < rule.minDose {
                            fire(.doseBelowMin, e, "dose below the \(label) minimum for the product given\(unblindedAmounts)")
                        }
                        // Only increases are limited: reducing a dose that is not tolerated is always allowed.
                        if let previous = previousDose[d.substance], previous.unit == d.unit,
                           d.amount - previous.amount > rule.maxTitrationStep + 1e-9 {
                            fire(.titrationStepExceeded, e, "dose raised by more than the \(label) titration step for the product given\(unblindedAmounts)")
                        }
                    }
                    if let last = previousDoseAt {
                        let hours = Double(e.occurredAt.microsecondsSinceEpoch - last.microsecondsSinceEpoch) / 3_600_000_000
                        if hours < rules.minHoursBetweenDoses {
                            fire(.doseIntervalTooShort, e, "\((hours * 10).rounded() / 10) h after the previous dose; \(label) requires \(CanonicalJSON.formatNumber(rules.minHoursBetweenDoses)) h")
                        }
                    }
                    let windowStart = e.occurredAt.adding(days: -7)
                    let inWindow = recentDoses.filter { $0 > windowStart }.count + 1
                    if inWindow > rules.maxDosesPer7Days {
                        fire(.weeklyDoseLimitExceeded, e, "dose \(inWindow) within 7 days; \(label) allows \(rules.maxDosesPer7Days)")
                    }
                    if rules.supervisionRequired, !d.supervised {
                        fire(.unsupervisedDose, e, "dose taken without supervision; \(label) requires supervision")
                    }
                }
                previousDose[d.substance] = d
                previousDoseAt = e.occurredAt
                recentDoses.append(e.occurredAt)

            case .assessmentCompleted(let a):
                switch a.instrument {
                case .phq9 where a.items[8] >= thresholds.phq9Item9Min:
                    fire(.suicidality, e, "PHQ-9 item 9 (thoughts of self-harm) scored \(a.items[8])")
                case .madrs where a.items[9] >= thresholds.madrsItem10Min:
                    fire(.suicidality, e, "MADRS item 10 (suicidal thoughts) scored \(a.items[9])")
                case .cssrsScreen where a.items[3...5].contains(1):
                    let yes = (3...5).filter { a.items[$0] == 1 }.map { "Q\($0 + 1)" }.joined(separator: ", ")
                    fire(.suicidality, e, "C-SSRS screen: yes to \(yes)")
                default:
                    break
                }
                if let total = a.total, a.instrument == .phq9 || a.instrument == .madrs {
                    if let first = firstDoseAt, e.occurredAt <= first {
                        baselines[a.instrument] = total
                    } else if let first = firstDoseAt, e.occurredAt > first, let baseline = baselines[a.instrument],
                              total - baseline >= thresholds.worseningPoints {
                        fire(.symptomWorsening, e, "\(a.instrument.rawValue) \(total), up \(total - baseline) from baseline \(baseline); threshold \(thresholds.worseningPoints)")
                    }
                }

            case .vitalsRecorded(let v):
                var problems: [String] = []
                if v.systolic > thresholds.systolicMax { problems.append("systolic \(v.systolic) > \(thresholds.systolicMax) mmHg") }
                if v.diastolic > thresholds.diastolicMax { problems.append("diastolic \(v.diastolic) > \(thresholds.diastolicMax) mmHg") }
                if v.heartRate > thresholds.heartRateMax { problems.append("heart rate \(v.heartRate) > \(thresholds.heartRateMax) bpm") }
                if v.heartRate < thresholds.heartRateMin { problems.append("heart rate \(v.heartRate) < \(thresholds.heartRateMin) bpm") }
                if let t = v.temperatureC, t > thresholds.temperatureMaxC {
                    problems.append("temperature \(CanonicalJSON.formatNumber(t)) > \(CanonicalJSON.formatNumber(thresholds.temperatureMaxC)) °C")
                }
                if !problems.isEmpty { fire(.vitalsOutOfRange, e, problems.joined(separator: "; ") + " (\(v.timePoint.rawValue))") }

            case .adverseEventReported(let ae):
                adverse[e.eventID] = (e, ae)
            case .adverseEventUpdated(let u):
                if let current = adverse[u.adverseEventID] { adverse[u.adverseEventID] = (current.event, apply(u, to: current.state)) }
            default:
                break
            }
        }
        // Adverse events are judged on their current state, and keyed by the report.
        for (_, ae) in adverse.sorted(by: { $0.key < $1.key }) {
            let s = ae.state
            if s.serious {
                let criteria = s.seriousnessCriteria.map(\.rawValue).joined(separator: ", ")
                fire(.seriousAdverseEvent, ae.event, "\(s.term) (grade \(s.grade); \(criteria)); notify the sponsor within 24 h",
                     deadline: ae.event.occurredAt.adding(seconds: 86_400))
            }
            if s.grade >= 3 {
                fire(.severeAdverseEvent, ae.event, "\(s.term): CTCAE grade \(s.grade)")
            }
        }
        return findings
    }

    /// An adverse event after an update.
    public static func apply(_ u: AdverseEventUpdated, to state: AdverseEventReported) -> AdverseEventReported {
        var s = state
        if let g = u.grade { s.grade = g }
        if let serious = u.serious { s.serious = serious }
        if let c = u.seriousnessCriteria { s.seriousnessCriteria = c }
        if let o = u.outcome { s.outcome = o }
        if let a = u.actionTaken { s.actionTaken = a }
        return s
    }
}
