import Foundation

/// A metrics file for node_exporter's textfile collector, which may read it at any moment: written next to its final
/// name and renamed over it (atomic within a file system), so a reader sees the old file or the new one, never half.
public enum TextfileMetrics {
    public static func write(_ exposition: String, to path: String) throws {
        let target = URL(fileURLWithPath: path)
        // The collector reads only *.prom files: the temporary name does not end so.
        let temporary = target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try Data(exposition.utf8).write(to: temporary)
            if rename(temporary.path, target.path) != 0 {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path,
                                                               NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
