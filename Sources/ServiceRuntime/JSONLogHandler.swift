#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// How log lines look, from `LOG_FORMAT`: `text` (swift-log's stream format, the default) or `json` (one object per
/// line, for log collectors).
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// The request a task is serving, for log metadata (`request_id`): set by a server around each request, added to
/// every log line written while it is handled, whichever logger writes it.
public enum RequestIdentity {
    @TaskLocal public static var current: String?

    /// Adds `request_id` to every log line written inside a request (`LoggingSystem`'s metadata provider).
    public static let metadataProvider = Logger.MetadataProvider {
        guard let id = current else { return [:] }
        return ["request_id": .string(id)]
    }
}

/// Writes each log entry as one JSON object on one line of standard error:
/// `{"timestamp":"2026-11-28T15:06:35.123456Z","level":"info","label":"ingest","message":"…","metadata":{…}}`.
/// Metadata values are strings, arrays or objects, as swift-log holds them.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit { merged.merge(explicit) { $1 } }
        var out = "{\"timestamp\":\"\(Self.timestamp())\",\"level\":"
        Self.appendString(level.rawValue, to: &out)
        out += ",\"label\":"
        Self.appendString(label, to: &out)
        out += ",\"message\":"
        Self.appendString(message.description, to: &out)
        out += ",\"metadata\":"
        Self.appendValue(.dictionary(merged), to: &out)
        out += "}\n"
        Self.write(out)
    }

    private static let output = Mutex(())

    /// One `write` per line, under a lock, so lines from several threads never interleave.
    static func write(_ line: String) {
        output.withLock { _ in
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
            bytes.removeAll()
        }
    }

    /// RFC 3339 in UTC with microseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var time = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &time)
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(Int(time.tm_year) + 1900, 4))-\(pad(Int(time.tm_mon) + 1, 2))-\(pad(Int(time.tm_mday), 2))T"
            + "\(pad(Int(time.tm_hour), 2)):\(pad(Int(time.tm_min), 2)):\(pad(Int(time.tm_sec), 2)).\(pad(now.tv_nsec / 1_000, 6))Z"
    }

    static func appendValue(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let text): appendString(text, to: &out)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &out)
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                appendValue(element, to: &out)
            }
            out += "]"
        case .dictionary(let entries):
            out += "{"
            for (index, key) in entries.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                appendString(key, to: &out)
                out += ":"
                appendValue(entries[key]!, to: &out)
            }
            out += "}"
        }
    }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped; everything else as is (UTF-8).
    static func appendString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
