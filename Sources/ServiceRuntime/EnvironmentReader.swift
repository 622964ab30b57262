import Foundation
import Logging

/// Reads typed settings from environment variables. Every failure names the variable and what it accepts,
/// so a service refuses to start on a typo instead of running with a surprise.
public struct EnvironmentReader: Sendable {
    public let environment: [String: String]

    public init(_ environment: [String: String]) {
        self.environment = environment
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var variable: String
        public var reason: String
        public var description: String { "configuration error: \(variable) \(reason)" }

        public init(variable: String, reason: String) {
            self.variable = variable
            self.reason = reason
        }
    }

    public func string(_ name: String, default value: String) throws(Failure) -> String {
        guard let raw = environment[name] else { return value }
        guard !raw.isEmpty else { throw Failure(variable: name, reason: "is set but empty; unset it to use the default '\(value)'") }
        return raw
    }

    /// A setting with no default: `nil` when unset.
    public func optionalString(_ name: String) throws(Failure) -> String? {
        guard let raw = environment[name] else { return nil }
        guard !raw.isEmpty else { throw Failure(variable: name, reason: "is set but empty; unset it or give a value") }
        return raw
    }

    public func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(Failure) -> Int {
        guard let raw = environment[name] else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw Failure(variable: name, reason: "is '\(raw)'; expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return parsed
    }

    /// A whole number with no default: `nil` when unset.
    public func optionalInteger(_ name: String, in range: ClosedRange<Int>) throws(Failure) -> Int? {
        guard environment[name] != nil else { return nil }
        return try integer(name, default: range.lowerBound, in: range)
    }

    public func choice<E: RawRepresentable & CaseIterable>(_ name: String, default value: E) throws(Failure) -> E
    where E.RawValue == String {
        guard let raw = environment[name] else { return value }
        guard let parsed = E(rawValue: raw) else {
            throw Failure(variable: name, reason: "is '\(raw)'; expected one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return parsed
    }

    /// Key material: the value of `name`, or the contents of the file named by `name_FILE` (trailing newline dropped),
    /// so secrets can come from a mounted secret file instead of the process environment. `nil` when neither is set.
    public func secret(_ name: String) throws(Failure) -> String? {
        let fileVariable = name + "_FILE"
        switch (environment[name], environment[fileVariable]) {
        case (nil, nil): return nil
        case (let value?, nil):
            guard !value.isEmpty else { throw Failure(variable: name, reason: "is set but empty; unset it or give the value") }
            return value
        case (nil, let path?):
            guard let contents = FileManager.default.contents(atPath: path), let text = String(data: contents, encoding: .utf8),
                  !text.isEmpty
            else { throw Failure(variable: fileVariable, reason: "names '\(path)', which is missing, unreadable, empty or not UTF-8") }
            return text.hasSuffix("\n") ? String(text.dropLast()) : text
        case (_?, _?):
            throw Failure(variable: name, reason: "and \(fileVariable) are both set; set only one")
        }
    }

    /// `key=value` pairs separated by `;`, e.g. `security.protocol=SASL_SSL;sasl.mechanism=PLAIN`.
    public func properties(_ name: String) throws(Failure) -> [String: String] {
        guard let raw = environment[name], !raw.isEmpty else { return [:] }
        var result: [String: String] = [:]
        for pair in raw.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw Failure(variable: name, reason: "has '\(pair)'; expected key=value pairs separated by ';'")
            }
            result[String(parts[0]).trimmingSpaces()] = String(parts[1]).trimmingSpaces()
        }
        return result
    }
}

/// Log verbosity, from `LOG_LEVEL`.
public enum LogLevelSetting: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    /// Sends every service's log lines to standard error at this level, as text or as JSON lines (`LOG_FORMAT`): the one
    /// logging set-up of the executables. Lines written while a request is served carry its `request_id`
    /// (`RequestIdentity`).
    public func bootstrapLogging(format: LogFormat = .text) {
        let level = Logger.Level(rawValue: rawValue) ?? .info
        LoggingSystem.bootstrap({ label, provider in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            }
        }, metadataProvider: RequestIdentity.metadataProvider)
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
