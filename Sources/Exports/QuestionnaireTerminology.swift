/// QS test codes and categories per instrument, as CDISC Controlled Terminology (QRS supplements) names them, with
/// how sure we are of each: the codes were checked against public CDISC-conformant material where it could be found
/// offline, and the README says which ones are confirmed. A code that could not be confirmed is still written (an
/// analysis needs a code), marked `confirmed: false` here and listed in the README, so a reviewer replaces it with the
/// CT package of the submission if it differs.
public struct QuestionnaireTerminology: Sendable {
    /// QSCAT: the instrument's short name in CDISC CT.
    public var category: String
    /// QSTESTCD of item n (1-based), and its QSTEST.
    public var items: [(code: String, test: String)]
    /// QSTESTCD / QSTEST of the total score, when the instrument has one.
    public var total: (code: String, test: String)?
    /// Whether the item codes were confirmed in CDISC-conformant material; totals are sponsor-defined unless stated.
    public var itemCodesConfirmed: Bool
    /// The --ORRES of an answer: the number for scored items, `Y`/`N` for C-SSRS.
    public var yesNo: Bool

    public static func of(_ instrument: String, answers: Int) -> QuestionnaireTerminology? {
        func numbered(_ prefix: String, _ name: String, _ count: Int) -> [(code: String, test: String)] {
            (1...count).map { n in (prefix + (n < 10 ? "0\(n)" : "\(n)"), "\(name)-Item \(n)") }
        }
        switch instrument {
        case "phq9":
            return .init(category: "PHQ-9", items: numbered("PHQ01", "PHQ01", 9), total: ("PHQ9TOT", "PHQ-9 Total Score"),
                         itemCodesConfirmed: true, yesNo: false)
        case "madrs":
            return .init(category: "MADRS", items: numbered("MADRS1", "MADRS1", 10), total: ("MADRSTOT", "MADRS Total Score"),
                         itemCodesConfirmed: false, yesNo: false)
        case "gad7":
            return .init(category: "GAD-7", items: numbered("GAD01", "GAD01", 7), total: ("GAD7TOT", "GAD-7 Total Score"),
                         itemCodesConfirmed: false, yesNo: false)
        case "qids_sr16":
            return .init(category: "QIDS-SR16", items: numbered("QIDS01", "QIDS01", 16), total: ("QIDSTOT", "QIDS-SR16 Total Score"),
                         itemCodesConfirmed: false, yesNo: false)
        case "cssrs_screen":
            // v1: Q1-Q6; v2: Q1-Q5, Q6 lifetime, Q6 past 3 months.
            var items = numbered("CSSRS1", "CSSRS1", 5)
            items.append(("CSSRS106", answers == 7 ? "CSSRS1-Item 6 Lifetime" : "CSSRS1-Item 6"))
            if answers == 7 { items.append(("CSSRS107", "CSSRS1-Item 6 Past 3 Months")) }
            return .init(category: "C-SSRS SCREENING", items: items, total: nil, itemCodesConfirmed: false, yesNo: true)
        case "who5":
            return .init(category: "WHO-5", items: numbered("WHO501", "WHO501", 5), total: ("WHO5TOT", "WHO-5 Raw Score"),
                         itemCodesConfirmed: false, yesNo: false)
        default:
            return nil
        }
    }
}
