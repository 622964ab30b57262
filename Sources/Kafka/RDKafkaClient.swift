import CRdKafka
import Logging
import Synchronization

/// Builds an `rd_kafka_conf_t` from properties.
///
/// Ownership: the conf belongs to us until `rd_kafka_new` succeeds, which takes it over;
/// if `rd_kafka_new` fails the conf is still ours and is destroyed here.
enum RDKafkaConfig {
    static func make(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (name, value) in properties {
            let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw .configuration(property: name, message: cString(errstr))
            }
        }
        return conf
    }

    /// Creates the client; on failure destroys `conf`.
    static func newClient(_ type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw .clientCreation(cString(errstr))
        }
        return handle
    }
}

/// State reachable from librdkafka's C callbacks through the client's opaque pointer.
final class ClientContext: Sendable {
    let logger: Logger
    /// Set once the client raised a fatal error: it can no longer produce (or consume) and must be replaced.
    let fatalError = Mutex<String?>(nil)
    init(logger: Logger) { self.logger = logger }
}

/// Logs client-level errors (broker down, authentication, ...) through the caller's logger, and keeps a fatal
/// one (e.g. the idempotent producer lost its guarantees) for the service to report unready.
let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    handle, code, reason, opaque in
    guard let opaque else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    var text = reason.map { String(cString: $0) } ?? "unknown"
    if code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let handle {
        var errstr = [CChar](repeating: 0, count: 512)
        let underlying = rd_kafka_fatal_error(handle, &errstr, errstr.count)
        text = "\(errorName(underlying)): \(cString(errstr))"
        context.fatalError.withLock { $0 = $0 ?? text }
        context.logger.critical("kafka client failed fatally and cannot continue; restart the service", metadata: ["reason": "\(text)"])
        return
    }
    context.logger.warning("kafka client error", metadata: ["code": "\(code)", "reason": "\(text)"])
}

func errorName(_ code: rd_kafka_resp_err_t) -> String {
    String(cString: rd_kafka_err2str(code))
}

func cString(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
