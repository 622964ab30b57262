/// Why the projector stopped instead of applying a record. Each names the partition and offset to look at.
public enum ProjectionError: Error, CustomStringConvertible {
    /// The record is not a valid stored event (not JSON, or it breaks a rule).
    case undecodable(partition: Int32, offset: Int64, reason: String)
    /// The log skipped offsets the checkpoint says are next: events would be lost.
    case gap(partition: Int32, expected: Int64, got: Int64)
    /// A drug accountability row or movement holds a value the projector cannot read back.
    case accountability(site: String, lot: String, value: String)

    public var description: String {
        switch self {
        case .undecodable(let p, let o, let r):
            "record at partition \(p) offset \(o) cannot be decoded: \(r). Stopping rather than skipping it; inspect the record, fix the projector, restart"
        case .gap(let p, let e, let g):
            "partition \(p): next offset to apply is \(e) but the log continued at \(g). Stopping rather than losing events; restore the missing range (projector rebuild from the archive)"
        case .accountability(let site, let lot, let value):
            "drug accountability of lot \(lot) at site \(site): cannot read '\(value)'. Rebuild the read models (projector rebuild)"
        }
    }
}
