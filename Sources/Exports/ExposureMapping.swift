/// EX (exposure), in one place: what a dose becomes in SDTM, blinded or not. When the way doses and arms are recorded
/// changes (issue 16: blinding and randomization), this file is what adapts.
///
/// Blinded (`product == nil`): `EXTRT` is `MASKED` and the dose, unit, route and lot are missing, because with an
/// active placebo (caffeine in mg beside LSD in µg) any of them tells the arm. Unblinded: the product as given.
enum ExposureMapping {
    static let columns: [(name: String, label: String, type: SDTMDataset.VariableType, core: SDTMDataset.Variable.Core,
                          codelist: SDTMDataset.Codelist?)] = [
        ("STUDYID", "Study Identifier", .text, .req, nil),
        ("DOMAIN", "Domain Abbreviation", .text, .req, nil),
        ("USUBJID", "Unique Subject Identifier", .text, .req, nil),
        ("EXSEQ", "Sequence Number", .number, .req, nil),
        ("EXSPID", "Sponsor-Defined Identifier", .text, .perm, nil),
        ("EXTRT", "Name of Treatment", .text, .req, nil),
        ("EXDOSE", "Dose", .number, .exp, nil),
        ("EXDOSU", "Dose Units", .text, .exp, .init(name: "UNIT", nciCode: "C71620")),
        ("EXROUTE", "Route of Administration", .text, .perm, .init(name: "ROUTE", nciCode: "C66729")),
        ("EXLOT", "Lot Number", .text, .perm, nil),
        ("EXSTDTC", "Start Date/Time of Treatment", .text, .exp, nil),
        ("EXENDTC", "End Date/Time of Treatment", .text, .exp, nil),
        ("EXSTDY", "Study Day of Start of Treatment", .number, .perm, nil),
        ("EXENDY", "Study Day of End of Treatment", .number, .perm, nil),
    ]

    /// One EX row's values after STUDYID, DOMAIN, USUBJID and EXSEQ.
    static func values(_ dose: SDTMSource.Dose, product: SDTMSource.DoseProduct?, study: StudyDay) -> [SDTMDataset.Value] {
        let dtc = SDTMMapping.dtc(dose.administeredAt)
        let day = study.day(dose.participantID, dose.administeredAt)
        return [
            .text(dose.eventID),
            .text(product.map { treatment($0.substance) } ?? "MASKED"),
            .number(product?.amount),
            .text(product.map { unit($0.unit) }),
            .text(product.map { $0.route.uppercased() }),
            .text(product?.lot),
            .text(dtc), .text(dtc),
            .number(day), .number(day),
        ]
    }

    static func treatment(_ substance: String) -> String {
        switch substance {
        case "lsd": "LYSERGIDE"
        case "psilocybin": "PSILOCYBIN"
        case "caffeine": "CAFFEINE"
        default: substance.uppercased()
        }
    }

    /// CDISC UNIT submission values.
    static func unit(_ unit: String) -> String {
        switch unit {
        case "ug": "ug"
        case "mg": "mg"
        case "g": "g"
        default: unit
        }
    }
}
