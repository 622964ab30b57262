/// Gauges whose series are computed when `/metrics` is scraped (values that depend on "now", or series that come and
/// go with rows of a table), rendered after the registry's families. Each family gets its `# HELP` from
/// `MetricCatalogue` and `# TYPE gauge`; a family without samples is left out.
public struct GaugeFamily: Sendable, Equatable {
    public struct Sample: Sendable, Equatable {
        public var labels: [Label]
        public var value: Double

        public init(labels: [Label] = [], value: Double) {
            self.labels = labels
            self.value = value
        }
    }

    public struct Label: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var name: String
    public var samples: [Sample]

    public init(name: String, samples: [Sample]) {
        self.name = name
        self.samples = samples
    }

    /// The family in the text exposition format 0.0.4 (empty without samples).
    public var exposition: String {
        guard !samples.isEmpty else { return "" }
        var text = "# HELP \(name) \(Self.escapeHelp(MetricCatalogue.byName[name]?.help ?? name))\n# TYPE \(name) gauge\n"
        for sample in samples {
            let labels = sample.labels.map { "\($0.name)=\"\(Self.escapeLabel($0.value))\"" }.joined(separator: ",")
            text += name + (labels.isEmpty ? "" : "{\(labels)}") + " " + Self.format(sample.value) + "\n"
        }
        return text
    }

    /// Several families, in order: what a textfile-collector file or the tail of a scrape holds.
    public static func exposition(_ families: [GaugeFamily]) -> String {
        families.map(\.exposition).joined()
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func escapeLabel(_ text: String) -> String {
        escapeHelp(text).replacingOccurrences(of: "\"", with: "\\\"")
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
