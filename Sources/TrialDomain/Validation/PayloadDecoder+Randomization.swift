/// Decoding of the randomization events (issue 16).
extension PayloadDecoder {
    static let kitHint = "must be 1-32 of A-Z a-z 0-9 . _ -"
    static func kitCharacters(_ c: Unicode.Scalar) -> Bool {
        ("A"..."Z").contains(c) || ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "." || c == "_" || c == "-"
    }
    static func factorNameCharacters(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "_" }

    static func scheduleLoaded(_ r: inout ObjectReader) -> RandomizationScheduleLoaded? {
        let scheduleID = r.string("schedule_id", maxLength: 64, allowed: kitCharacters, hint: "must be 1-64 of A-Z a-z 0-9 . _ -")
        let arms = r.array("arms")
        var armNames: [String] = []
        if let arms {
            if !(2...8).contains(arms.count) { r.report("arms", "must hold 2 to 8 arms, got \(arms.count)") }
            for (i, arm) in arms.enumerated() {
                guard case .string(let name) = arm, !name.isEmpty, name.unicodeScalars.count <= 64,
                      name.unicodeScalars.allSatisfy(kitCharacters) else {
                    r.report("arms", "entry \(i) must be an arm name of 1-64 of A-Z a-z 0-9 . _ -")
                    continue
                }
                if armNames.contains(name) { r.report("arms", "arm '\(name)' is listed twice") }  // Swift-only
                armNames.append(name)
            }
        }
        let known = Set(armNames)
        let control = r.string("control_arm", maxLength: 64)
        if let control, !known.isEmpty, !known.contains(control) { r.report("control_arm", "must be one of the schedule's arms") }  // Swift-only
        var kitsSeen = Set<String>()
        var strataSeen = Set<String>()
        var factorNames: Set<String>?
        let strata = r.objects("strata", minCount: 1, maxCount: 1_000) { s -> ScheduledStratum? in
            let factors = Self.factors(&s, "factors")
            let blocks = s.objects("blocks", minCount: 1, maxCount: 1_000) { b -> [ScheduledKit]? in
                b.objects("kits", minCount: 1, maxCount: 24) { k -> ScheduledKit? in
                    let number = k.string("kit_number", maxLength: 32, allowed: kitCharacters, hint: kitHint)
                    let arm = k.string("arm", maxLength: 64)
                    if let arm, !known.isEmpty, !known.contains(arm) { k.report("arm", "must be one of the schedule's arms") }  // Swift-only
                    if let number {
                        if kitsSeen.contains(number) { k.report("kit_number", "kit \(number) appears twice in the schedule") }  // Swift-only
                        kitsSeen.insert(number)
                    }
                    guard let number, let arm else { return nil }
                    return ScheduledKit(kitNumber: number, arm: arm)
                }
            }
            if let factors {
                // Swift-only: every stratum is named by the same factors, and no two strata by the same values.
                let names = Set(factors.factors.keys)
                if let expected = factorNames, expected != names {
                    s.report("factors", "every stratum must name the same factors (\(expected.sorted().joined(separator: ", ")))")
                }
                factorNames = factorNames ?? names
                if strataSeen.contains(factors.key) { s.report("factors", "stratum \(factors.key) appears twice in the schedule") }
                strataSeen.insert(factors.key)
            }
            guard let factors, let blocks else { return nil }
            return ScheduledStratum(factors: factors, blocks: blocks)
        }
        let contents = blindedContents(&r, arms: armNames)
        guard let scheduleID, let strata, let control, arms != nil, r.issues.isEmpty else { return nil }
        return RandomizationScheduleLoaded(scheduleID: scheduleID, arms: armNames, controlArm: control, strata: strata,
                                           contents: contents ?? [])
    }

    /// The optional `contents`: per arm and blinded label, the substance, amount and unit (1-200 entries). Swift-only:
    /// each arm and label once, and every label stated for every arm, so a blinded dose resolves whatever the kit holds.
    static func blindedContents(_ r: inout ObjectReader, arms: [String]) -> [BlindedContent]? {
        let known = Set(arms)
        let contents = r.objects("contents", required: false, minCount: 1, maxCount: 200) { c -> BlindedContent? in
            let arm = c.string("arm", maxLength: 64)
            if let arm, !known.isEmpty, !known.contains(arm) { c.report("arm", "must be one of the schedule's arms") }  // Swift-only
            let label = c.string("blinded_label", maxLength: 64)
            let substance = c.enumeration("substance", Substance.self)
            let unit = c.enumeration("unit", DoseUnit.self)
            let amount = c.number("amount", in: 0...(unit?.plausibleMaximum ?? 200), exclusiveMinimum: true)
            if let substance, let unit, !DoseUnit.allowed(for: substance).contains(unit) {
                c.report("unit", "\(substance.rawValue) is recorded in \(DoseUnit.allowed(for: substance).map(\.rawValue).joined(separator: " or ")), not \(unit.rawValue)")
            }
            guard let arm, let label, let substance, let unit, let amount, c.issues.isEmpty else { return nil }
            return BlindedContent(arm: arm, blindedLabel: label, substance: substance, quantity: Quantity(amount: amount, unit: unit))
        }
        guard let contents else { return nil }
        var seen = Set<String>()
        for content in contents where !seen.insert(content.arm + "\u{0}" + content.blindedLabel).inserted {
            r.report("contents", "arm \(content.arm) states label '\(content.blindedLabel)' twice")
        }
        let labels = Set(contents.map(\.blindedLabel))
        for arm in arms {
            let stated = Set(contents.filter { $0.arm == arm }.map(\.blindedLabel))
            if let missing = labels.subtracting(stated).sorted().first {
                r.report("contents", "arm \(arm) does not state label '\(missing)': every label needs a content in every arm")
            }
        }
        return contents
    }

    static func randomizationRequested(_ r: inout ObjectReader) -> RandomizationRequested? {
        guard let factors = factors(&r, "stratum") else { return nil }
        return RandomizationRequested(stratum: factors)
    }

    static func unblindingRequested(_ r: inout ObjectReader) -> UnblindingRequested? {
        r.string("reason", maxLength: 2_000).map(UnblindingRequested.init)
    }

    static func blindingAssessed(_ r: inout ObjectReader) -> BlindingAssessed? {
        let assessor = r.enumeration("assessor", BlindingAssessor.self)
        let guess = r.enumeration("guess", BlindingGuess.self)
        // Required with a guess of an arm, absent with "don't know" (there is nothing to be sure of).
        let certainty = r.integer("certainty", in: 1...5, required: guess != nil && guess != .dontKnow)
        if guess == .dontKnow, certainty != nil { r.report("certainty", "must be absent when the guess is dont_know") }
        guard let assessor, let guess, r.issues.isEmpty else { return nil }
        return BlindingAssessed(assessor: assessor, guess: guess, certainty: certainty)
    }

    /// An array of 1 to 8 factors, each `{"factor": name, "value": value}`: names of 1-32 of `a-z 0-9 _` starting with a
    /// letter, each named once (Swift-only), values of 1-64 characters without control characters. An array of closed
    /// objects rather than an open map: every field the system accepts is one it knows.
    static func factors(_ r: inout ObjectReader, _ key: String) -> StratumFactors? {
        let entries = r.objects(key, minCount: 1, maxCount: 8) { f -> (String, String)? in
            let name = f.string("factor", maxLength: 32, allowed: factorNameCharacters,
                                hint: "must be 1-32 of a-z 0-9 _ starting with a letter")
            if let name, let first = name.unicodeScalars.first, !("a"..."z").contains(first) {
                f.report("factor", "must be 1-32 of a-z 0-9 _ starting with a letter")
            }
            let value = f.string("value", maxLength: 64)
            guard let name, let value, f.issues.isEmpty else { return nil }
            return (name, value)
        }
        guard let entries else { return nil }
        var factors: [String: String] = [:]
        for (i, (name, value)) in entries.enumerated() {
            if factors[name] != nil {
                r.report(key, "factor '\(name)' is named twice (entry \(i))")  // Swift-only
                return nil
            }
            factors[name] = value
        }
        return StratumFactors(factors)
    }
}
