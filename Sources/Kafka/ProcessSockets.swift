#if os(Linux)
import Glibc

/// The TCP sockets this process holds, read from `/proc/self/fd` (Linux). For the dev broker, whose sockets the mock
/// cluster opens without a hook, and for the tests that check what it and the clients set on them.
public struct ProcessSocket: Sendable, Equatable {
    public let descriptor: Int32
    public let localPort: UInt16
    /// Nil for a listening socket.
    public let peerPort: UInt16?
    public let listening: Bool

    /// Whether Nagle's algorithm is off (TCP_NODELAY).
    public var noDelay: Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length) == 0 && value != 0
    }

    @discardableResult
    public func setNoDelay() -> Bool {
        var on: Int32 = 1
        return setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// Every IPv4 or IPv6 stream socket open in this process now.
    public static func all() -> [ProcessSocket] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name) { descriptors.append(fd) }
        }
        return descriptors.compactMap(inspect)
    }

    private static func inspect(_ fd: Int32) -> ProcessSocket? {
        func option(_ name: Int32) -> Int32? {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
        }
        guard option(SO_TYPE) == Int32(SOCK_STREAM.rawValue), let local = port(fd, getsockname) else { return nil }
        let listening = option(SO_ACCEPTCONN) == 1
        return ProcessSocket(descriptor: fd, localPort: local, peerPort: listening ? nil : port(fd, getpeername), listening: listening)
    }

    /// The port of an AF_INET or AF_INET6 address `get` (getsockname or getpeername) gives, else nil.
    private static func port(_ fd: Int32, _ get: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { get(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        // sin_port and sin6_port both follow the two-byte family.
        guard [AF_INET, AF_INET6].contains(Int32(storage.ss_family)) else { return nil }
        return withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }
}
#endif
