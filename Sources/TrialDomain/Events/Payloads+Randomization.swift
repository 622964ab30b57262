/// System-owned randomization (issue 16): the unblinded statistician loads a sealed allocation schedule, sites ask for
/// a participant's randomization, and the projector assigns the next unused kit of the participant's stratum. The site
/// learns the kit, never the arm; only the `unblinded` schema (and the archive, for auditors) holds the arms.

/// The stratification factors of a participant or of a schedule's stratum: 1 to 8 named values (e.g. `site: S01`,
/// `severity: severe`). Two sets of factors are the same stratum when they have the same names and values.
public struct StratumFactors: Sendable, Hashable {
    public var factors: [String: String]

    public init(_ factors: [String: String]) { self.factors = factors }

    /// `name=value` pairs sorted by name, joined by `;`: the stratum's identity in the read models.
    public var key: String {
        factors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
    }
}

/// One kit of a schedule: the number printed on the box (what the site sees) and the arm it holds (what it never sees).
public struct ScheduledKit: Sendable, Hashable {
    public var kitNumber: String
    public var arm: String
}

/// A stratum's part of a schedule: its factors and the ordered blocks of kits, assigned first to last.
public struct ScheduledStratum: Sendable, Hashable {
    public var factors: StratumFactors
    public var blocks: [[ScheduledKit]]
}

/// `randomization.schedule_loaded` (study scope, role `unblinded_statistician`): the sealed allocation list. Carries the
/// arms: it reaches only the `unblinded` schema (and the archive). A later schedule adds blocks after the kits already
/// loaded for a stratum (replenishment, a new site's strata); a kit number loaded before is never loaded again.
public struct RandomizationScheduleLoaded: Sendable, Hashable {
    public var scheduleID: String
    public var arms: [String]
    /// The placebo (control) arm, one of `arms`: a blinding guess of "placebo" is right for it, "active" for the others.
    public var controlArm: String
    public var strata: [ScheduledStratum]
    /// What each blinded label holds in each arm (blinded dosing): e.g. microdose "study drug, level 2" = 10 ug LSD,
    /// placebo "study drug, level 2" = 50 mg caffeine. Empty when the schedule states none (doses then stay unresolved).
    public var contents: [BlindedContent] = []
}

/// One arm's content of one blinded label: the real substance and amount a blinded (v3) dose of that label gives.
public struct BlindedContent: Sendable, Hashable {
    public var arm: String
    public var blindedLabel: String
    public var substance: Substance
    public var quantity: Quantity
}

/// `participant.randomization_requested` (site roles): asks the system to randomize the participant in the stratum of
/// these factors. The answer (a kit, or why none) is in `monitoring.randomizations` and the site read API.
public struct RandomizationRequested: Sendable, Hashable {
    public var stratum: StratumFactors
}

/// `unblinding.requested` (investigator): an emergency unblinding through the system. It lets the requesting
/// investigator read that one participant's arm (`GET /v1/participants/{id}/unblinding`, recorded in
/// `audit.unblinded_access`); monitors see that it happened, never the arm.
public struct UnblindingRequested: Sendable, Hashable {
    public var reason: String
}

/// Who answered a blinding assessment.
public enum BlindingAssessor: String, Sendable, Hashable, CaseIterable, Codable {
    case participant, rater, investigator
}

/// The arm the assessor believes the participant is in.
public enum BlindingGuess: String, Sendable, Hashable, CaseIterable, Codable {
    case active, placebo
    case dontKnow = "dont_know"
}

/// `blinding.assessed` (site roles): which arm the participant, the rater or the investigator believes the participant
/// is in, and how sure they are (1 a pure guess to 5 certain; absent for "don't know"). Blinded data: the guess is no
/// allocation. Only with each participant's arm, in the `unblinded` schema, do the guesses become blinding indices.
public struct BlindingAssessed: Sendable, Hashable {
    public var assessor: BlindingAssessor
    public var guess: BlindingGuess
    public var certainty: Int?
}
