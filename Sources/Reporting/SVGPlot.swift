import TrialDomain

/// Text for HTML and SVG: escaping (`MarkupText`, shared with the exports' XML) and numbers.
public enum HTMLText {
    public static func escape(_ s: String) -> String { MarkupText.escape(s) }

    /// `v` rounded to `digits` decimals, without a trailing `.0` (this module does without Foundation's formatters).
    public static func number(_ v: Double, _ digits: Int = 2) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (v * scale).rounded() / scale
        var text = String(r)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
}

/// A server-rendered line plot as inline SVG: one polyline per series (optionally a marker per point), horizontal
/// reference lines (a baseline, thresholds, a target), axes labelled at both ends, and a legend. Used by the DSMB
/// report and the monitors' dashboard; nothing is fetched and no script runs.
///
/// Accessible: `role="img"`, a `<title>` and a `<desc>` (the text alternative), referenced by `aria-labelledby`.
public struct SVGLinePlot: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// (x, y) in data units.
        public var points: [(x: Double, y: Double)]
        /// The polyline's class (e.g. `arm-line`); each point's marker is a `circle` of class `point` when `markers`.
        public var cssClass: String
        public var markers: Bool

        public init(name: String, points: [(x: Double, y: Double)], cssClass: String = "series", markers: Bool = false) {
            self.name = name
            self.points = points
            self.cssClass = cssClass
            self.markers = markers
        }
    }

    /// A horizontal line across the plot at `y`, labelled at its right end.
    public struct Rule: Sendable {
        public var y: Double
        public var label: String
        public var cssClass: String
        public var dashed: Bool
        /// Labelled at the left end, above the line (a baseline), so it does not collide with the cut-offs' labels.
        public var labelAtStart: Bool

        public init(y: Double, label: String, cssClass: String, dashed: Bool = true, labelAtStart: Bool = false) {
            (self.y, self.label, self.cssClass, self.dashed, self.labelAtStart) = (y, label, cssClass, dashed, labelAtStart)
        }
    }

    public var cssClass: String
    public var title: String
    /// The text alternative: what the plot shows, in words.
    public var description: String
    public var xLabel: String
    /// Labels of the x axis's two ends (default: the numbers).
    public var xEndLabels: (String, String)?
    public var xRange: ClosedRange<Double>
    public var yRange: ClosedRange<Double>
    public var series: [Series]
    public var rules: [Rule] = []
    public var width = 680.0
    public var height = 260.0
    /// Extra attributes on the `<svg>` element, already escaped (e.g. `data-instrument="phq9"`).
    public var attributes = ""

    public static let palette = ["#1b6ca8", "#c0392b", "#1e7d45", "#8e44ad", "#b34700", "#2c3e50", "#0f7a6a", "#5f6a6a"]

    public init(cssClass: String, title: String, description: String, xLabel: String, xRange: ClosedRange<Double>,
                yRange: ClosedRange<Double>, series: [Series]) {
        self.cssClass = cssClass
        self.title = title
        self.description = description
        self.xLabel = xLabel
        self.xRange = xRange
        self.yRange = yRange
        self.series = series
    }

    public var svg: String {
        let e = HTMLText.escape, n = { HTMLText.number($0) }
        let (w, h, pad, legend) = (width, height, 40.0, 130.0)
        let xSpan = max(xRange.upperBound - xRange.lowerBound, 1e-9), ySpan = max(yRange.upperBound - yRange.lowerBound, 1e-9)
        func x(_ v: Double) -> Double { pad + (v - xRange.lowerBound) / xSpan * (w - 2 * pad - legend) }
        func y(_ v: Double) -> Double { h - pad - (v - yRange.lowerBound) / ySpan * (h - 2 * pad) }
        // Deterministic (FNV-1a of class and title), so the same page renders byte for byte the same.
        let id = "plot-" + String((cssClass + title).utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }, radix: 16)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"\(e(cssClass))\" \(attributes) "
            + "aria-labelledby=\"\(id)-t \(id)-d\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" "
            + "preserveAspectRatio=\"xMinYMin meet\"><title id=\"\(id)-t\">\(e(title))</title><desc id=\"\(id)-d\">\(e(description))</desc>"
        let (xEnd0, xEnd1) = xEndLabels ?? (n(xRange.lowerBound), n(xRange.upperBound))
        svg += "<line x1=\"\(pad)\" y1=\"\(h - pad)\" x2=\"\(w - pad - legend)\" y2=\"\(h - pad)\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(pad)\" y1=\"\(pad)\" x2=\"\(pad)\" y2=\"\(h - pad)\" stroke=\"#333\"/>"
        svg += "<text x=\"\(pad - 4)\" y=\"\(h - pad)\" text-anchor=\"end\" font-size=\"11\">\(n(yRange.lowerBound))</text>"
        svg += "<text x=\"\(pad - 4)\" y=\"\(pad + 4)\" text-anchor=\"end\" font-size=\"11\">\(HTMLText.number(yRange.upperBound, 0))</text>"
        svg += "<text x=\"\(pad)\" y=\"\(h - pad + 14)\" text-anchor=\"start\" font-size=\"11\">\(e(xEnd0))</text>"
        svg += "<text x=\"\(w - pad - legend)\" y=\"\(h - pad + 14)\" text-anchor=\"end\" font-size=\"11\">\(e(xEnd1))</text>"
        svg += "<text x=\"\((w - legend) / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\" font-size=\"12\">\(e(xLabel))</text>"
        for rule in rules where yRange.contains(rule.y) {
            svg += "<line class=\"\(e(rule.cssClass))\" x1=\"\(pad)\" y1=\"\(n(y(rule.y)))\" x2=\"\(w - pad - legend)\" y2=\"\(n(y(rule.y)))\" "
                + "stroke=\"#555\" stroke-width=\"1\"\(rule.dashed ? " stroke-dasharray=\"4 3\"" : "")/>"
            svg += rule.labelAtStart ? "<text x=\"\(pad + 4)\" y=\"\(n(y(rule.y) - 4))\" font-size=\"11\">\(e(rule.label))</text>"
                : "<text x=\"\(w - pad - legend + 4)\" y=\"\(n(y(rule.y) + 4))\" font-size=\"11\">\(e(rule.label))</text>"
        }
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            let color = Self.palette[i % Self.palette.count]
            svg += "<polyline class=\"\(e(s.cssClass))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\""
                + s.points.map { "\(n(x($0.x))),\(n(y($0.y)))" }.joined(separator: " ") + "\"/>"
            if s.markers {
                for p in s.points {
                    svg += "<circle class=\"point\" cx=\"\(n(x(p.x)))\" cy=\"\(n(y(p.y)))\" r=\"3.5\" fill=\"\(color)\"/>"
                }
            }
            svg += "<text x=\"\(w - legend + 8)\" y=\"\(pad + 14 * Double(i))\" font-size=\"12\" fill=\"\(color)\">\(e(s.name))</text>"
        }
        return svg + "</svg>"
    }
}
