import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP client, so a test can behave like a slow or stuck client that an HTTP library would never be.
/// Blocking calls run on their own thread, never on Swift's cooperative pool.
public final class RawConnection: @unchecked Sendable {
    private let fd: Int32

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    public func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything the server sends until it closes the connection, each wait at most `timeoutSeconds`. Blocks: call
    /// it on a thread of its own.
    public func receiveUntilClosed(timeoutSeconds: Int) -> [UInt8] {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return received }
            received += buffer[..<count]
        }
    }

    public enum ReadOutcome: Equatable { case data(String), closedByServer, nothingWithin(Double) }

    /// The first bytes the server sends, or that it closed the connection, waiting at most `seconds`.
    public func read(within seconds: Double) async -> ReadOutcome {
        await withCheckedContinuation { done in
            Thread.detachNewThread { [fd] in
                var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var buffer = [UInt8](repeating: 0, count: 4_096)
                let count = recv(fd, &buffer, buffer.count, 0)
                if count > 0 {
                    done.resume(returning: .data(String(decoding: buffer[..<count], as: UTF8.self)))
                } else if count == 0 || errno == ECONNRESET {
                    done.resume(returning: .closedByServer)
                } else {
                    done.resume(returning: .nothingWithin(seconds))
                }
            }
        }
    }
}
