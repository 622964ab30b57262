/// One SDTM dataset (a domain, TS or a SUPP-- dataset) as every output format sees it: the variables in order, with
/// their SAS type, length and label, and the rows. The writers (`SASTransport`, `DatasetJSON`, `DefineXML`) take only
/// this, so the three outputs describe exactly the same data.
public struct SDTMDataset: Sendable, Equatable {
    /// A cell: text (SAS character) or a number (SAS numeric); nil is missing (blank text, `.` number).
    public enum Value: Sendable, Hashable {
        case text(String?)
        case number(Double?)
    }

    public enum VariableType: String, Sendable {
        case text, number
    }

    /// A variable of the dataset, in SDTMIG 3.4 terms.
    public struct Variable: Sendable, Equatable {
        public var name: String
        public var label: String
        public var type: VariableType
        /// Character variables: the longest value in bytes (at least 1, at most 200, the XPORT v5 limit); numbers: 8.
        public var length: Int
        /// Req, Exp or Perm (SDTMIG core); define.xml's `Mandatory` is Yes only for Req.
        public var core: Core
        /// The CDISC codelist this variable's values come from, when there is one (define.xml names it).
        public var codelist: Codelist?
        /// `ISO 8601` for --DTC variables.
        public var isDateTime: Bool { name.hasSuffix("DTC") }

        public enum Core: String, Sendable { case req = "Req", exp = "Exp", perm = "Perm" }
    }

    /// A codelist used by a variable: its name and the terms this export used (define.xml lists exactly these).
    public struct Codelist: Sendable, Equatable {
        public var name: String
        /// The NCI code of the codelist in CDISC CT, when confirmed; nil for a sponsor-defined list.
        public var nciCode: String?
        public init(name: String, nciCode: String? = nil) {
            self.name = name
            self.nciCode = nciCode
        }
    }

    /// Upper-case name, 2 letters for a domain (`DM`), `SUPPAE` for supplemental qualifiers.
    public var name: String
    public var label: String
    /// SDTM class for define.xml (`SPECIAL PURPOSE`, `INTERVENTIONS`, `EVENTS`, `FINDINGS`, `TRIAL DESIGN`, `RELATIONSHIP`).
    public var sdtmClass: String
    /// One record per …, as define.xml's `def:Structure`.
    public var structure: String
    /// The natural key, in order (define.xml's `KeySequence`).
    public var keys: [String]
    public var variables: [Variable]
    public var rows: [[Value]]

    /// A dataset whose character lengths are the longest value (so a reader's lengths equal the data's).
    public init(name: String, label: String, sdtmClass: String, structure: String, keys: [String],
                columns: [(name: String, label: String, type: VariableType, core: Variable.Core, codelist: Codelist?)],
                rows: [[Value]]) {
        self.name = name
        self.label = label
        self.sdtmClass = sdtmClass
        self.structure = structure
        self.keys = keys
        self.rows = rows
        self.variables = columns.enumerated().map { index, c in
            let length: Int
            switch c.type {
            case .number: length = 8
            case .text:
                let longest = rows.map { row -> Int in
                    if case .text(let s?) = row[index] { return s.utf8.count }
                    return 0
                }.max() ?? 0
                length = min(200, max(1, longest))
            }
            return Variable(name: c.name, label: c.label, type: c.type, length: length, core: c.core, codelist: c.codelist)
        }
    }

    /// The values of one variable, by name (for tests and define.xml's codelists).
    public func column(_ name: String) -> [Value] {
        guard let index = variables.firstIndex(where: { $0.name == name }) else { return [] }
        return rows.map { $0[index] }
    }

    /// The distinct text values of a variable, sorted.
    public func terms(_ name: String) -> [String] {
        Set(column(name).compactMap { if case .text(let s?) = $0 { s } else { nil } }).sorted()
    }
}
