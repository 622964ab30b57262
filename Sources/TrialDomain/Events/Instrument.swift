/// The rating scales a site may record, with their item ranges and scoring rules (docs/domain.md).
public enum Instrument: String, Sendable, Hashable, CaseIterable, Codable {
    /// Patient Health Questionnaire: 9 items 0-3, total 0-27; item 9 asks about thoughts of self-harm.
    case phq9
    /// Montgomery-Åsberg (clinician-rated): 10 items 0-6, total 0-60; item 10 is suicidal thoughts.
    case madrs
    /// Generalized Anxiety Disorder: 7 items 0-3, total 0-21.
    case gad7
    /// Quick Inventory of Depressive Symptomatology, self-report: 16 items 0-3 in 9 domains, total 0-27.
    case qidsSR16 = "qids_sr16"
    /// Columbia Suicide Severity Rating Scale, screener: yes/no questions, no total. Version 1 of
    /// `assessment.completed`: 6 answers, Q6 (suicidal behaviour) without a time frame. Version 2: 7 answers, Q6 asked
    /// for lifetime (item 6) and the past 3 months (item 7), Q3-Q5 null (not asked) when Q2 is no (Columbia's triage).
    case cssrsScreen = "cssrs_screen"
    /// WHO-5 Well-Being Index: 5 items 0-5, raw score 0-25 (higher is better); the percentage score is raw × 4.
    /// Version 2 of `assessment.completed` only.
    case who5

    /// Instruments judged for `symptom_worsening`, each with its own `worsening_points`.
    public static let worseningScored: [Instrument] = [.phq9, .madrs, .gad7]

    /// C-SSRS screener questions 3-5 (method, intent, plan with intent): asked only when question 2 is yes.
    public static let cssrsFollowUps = 2...4

    /// An item of a version 2 C-SSRS screener that was not asked (Q3-Q5 when Q2 is no); null in the event's data.
    public static let notAsked = -1

    /// The highest total the instrument can give (nil without a total).
    public var maximumTotal: Int? { total(of: Array(repeating: itemRange.upperBound, count: itemCount)) }

    /// Items in `assessment.completed` of `schemaVersion`: version 2 asks C-SSRS Q6 for two time frames.
    public func itemCount(schemaVersion: Int) -> Int {
        self == .cssrsScreen && schemaVersion >= 2 ? 7 : itemCount
    }

    public var itemCount: Int {
        switch self {
        case .phq9: 9
        case .madrs: 10
        case .gad7: 7
        case .qidsSR16: 16
        case .cssrsScreen: 6
        case .who5: 5
        }
    }

    /// The first version of `assessment.completed` that records the instrument.
    public var firstSchemaVersion: Int { self == .who5 ? 2 : 1 }

    /// WHO-5's percentage score (0-100) from its raw total (0-25); nil for the other instruments.
    public func percentage(ofTotal total: Int) -> Int? { self == .who5 ? total * 4 : nil }

    /// Answers are booleans (yes/no) instead of scores.
    public var isYesNo: Bool { self == .cssrsScreen }

    public var itemRange: ClosedRange<Int> {
        switch self {
        case .madrs: 0...6
        case .who5: 0...5
        case .cssrsScreen: 0...1
        default: 0...3
        }
    }

    /// QIDS-SR16 domains scored by their highest item: sleep (1-4), appetite/weight (6-9), psychomotor (15-16).
    public static let qidsGroups: [ClosedRange<Int>] = [0...3, 4...4, 5...8, 9...9, 10...10, 11...11, 12...12, 13...13, 14...15]

    /// The total by the instrument's own rule, or nil for instruments without a total.
    public func total(of items: [Int]) -> Int? {
        switch self {
        case .cssrsScreen: nil
        case .qidsSR16: Self.qidsGroups.reduce(0) { $0 + items[$1].max()! }
        default: items.reduce(0, +)
        }
    }
}
