import CRdKafka
import Foundation
import Logging
import Synchronization

/// A record to send. The key chooses the partition; headers are small metadata.
public struct KafkaOutgoingRecord: Sendable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var headers: [(String, [UInt8])]

    public init(key: [UInt8], value: [UInt8], headers: [(String, [UInt8])] = []) {
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// Where the broker durably stored a record.
public struct KafkaDelivery: Sendable, Hashable {
    public var partition: Int32
    public var offset: Int64
}

/// An idempotent, acks=all producer. `send` returns only when every record has its delivery report.
///
/// A dedicated thread serves `rd_kafka_poll`, which runs the delivery callbacks; no blocking C call
/// ever runs on Swift's cooperative pool.
public final class KafkaProducer: @unchecked Sendable {
    // Safe to share: librdkafka's producer handle is thread-safe; the poll thread only reads `running`.
    private let handle: OpaquePointer
    private let context: Unmanaged<ClientContext>
    private let topic: UnsafeMutablePointer<CChar>
    private let pollLoop = PollLoop()
    private let logger: Logger

    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        self.logger = logger
        let conf = try RDKafkaConfig.make(configuration.properties)
        context = Unmanaged.passRetained(ClientContext(logger: logger))
        rd_kafka_conf_set_opaque(conf, context.toOpaque())
        rd_kafka_conf_set_dr_msg_cb(conf, deliveryCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        do {
            handle = try RDKafkaConfig.newClient(RD_KAFKA_PRODUCER, conf: conf)
        } catch {
            context.release()
            throw error
        }
        topic = strdup(configuration.topic)
        let client = ClientHandle(pointer: handle)
        let thread = Thread { [pollLoop] in
            while pollLoop.running.load(ordering: .relaxed) {
                rd_kafka_poll(client.pointer, 50)
            }
            pollLoop.done.signal()
        }
        thread.name = "kafka-producer-poll"
        thread.start()
    }

    /// Sends the records and waits for every delivery report. Results are in the order of `records`.
    public func send(_ records: [KafkaOutgoingRecord]) async -> [Result<KafkaDelivery, KafkaError>] {
        guard !records.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let batch = PendingBatch(count: records.count, continuation: continuation)
            for (index, record) in records.enumerated() {
                let slot = Unmanaged.passRetained(DeliverySlot(batch: batch, index: index))
                if let failure = enqueue(record, opaque: slot.toOpaque()) {
                    slot.release()
                    batch.complete(index, .failure(failure))
                }
            }
        }
    }

    private func enqueue(_ record: KafkaOutgoingRecord, opaque: UnsafeMutableRawPointer) -> KafkaError? {
        // Header names and values are copied by librdkafka during the call; ours are freed after it.
        var headerBuffers: [UnsafeMutableRawPointer] = []
        defer { headerBuffers.forEach { free($0) } }
        return record.key.withUnsafeBytes { key in
            record.value.withUnsafeBytes { value in
                var vus: [rd_kafka_vu_t] = []
                func vu(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                    var v = rd_kafka_vu_t()
                    v.vtype = type
                    fill(&v)
                    vus.append(v)
                }
                vu(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = UnsafePointer(topic) }
                vu(RD_KAFKA_VTYPE_KEY) { $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress); $0.u.mem.size = key.count }
                vu(RD_KAFKA_VTYPE_VALUE) { $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress); $0.u.mem.size = value.count }
                vu(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                vu(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = opaque }
                for (name, bytes) in record.headers {
                    let cname = strdup(name)!
                    let copy = malloc(max(bytes.count, 1))!
                    bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                    headerBuffers += [UnsafeMutableRawPointer(cname), copy]
                    vu(RD_KAFKA_VTYPE_HEADER) {
                        $0.u.header.name = UnsafePointer(cname)
                        $0.u.header.val = UnsafeRawPointer(copy)
                        $0.u.header.size = bytes.count
                    }
                }
                guard let error = rd_kafka_produceva(handle, vus, vus.count) else { return nil }
                defer { rd_kafka_error_destroy(error) }
                return KafkaError.enqueue(code: rd_kafka_error_code(error).rawValue,
                                          message: String(cString: rd_kafka_error_string(error)))
            }
        }
    }

    /// Asks the cluster for its metadata (brokers only), waiting up to `timeoutMs`: nil when a broker answered, else why
    /// not. Blocks for up to the timeout: call it off Swift's cooperative pool.
    public func brokerMetadataProblem(timeoutMs: Int32) -> String? {
        guard pollLoop.running.load(ordering: .relaxed) else { return "the producer is shut down" }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, nil, &metadata, timeoutMs)
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : "broker metadata: \(errorName(err))"
    }

    /// Why the producer failed for good (librdkafka's fatal error), or nil while it works. A failed producer cannot
    /// deliver anything again: the service must report itself unready and be restarted.
    public var fatalError: String? { context.takeUnretainedValue().fatalError.withLock { $0 } }

    /// Raises a fatal error through librdkafka's own test hook (`rd_kafka_test_fatal_error`), exactly as a real one
    /// arrives: for tests of what the service does then.
    public func raiseFatalErrorForTesting(reason: String) {
        _ = rd_kafka_test_fatal_error(handle, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason)
    }

    /// Waits up to `timeoutMs` for every queued record to be delivered. Returns the number still queued.
    @discardableResult
    public func flush(timeoutMs: Int32) -> Int32 {
        rd_kafka_flush(handle, timeoutMs)
        return rd_kafka_outq_len(handle)
    }

    /// Flushes, stops the poll thread and destroys the client. Call once, when no `send` is in flight.
    public func shutdown(flushTimeoutMs: Int32 = 10_000) {
        guard pollLoop.running.exchange(false, ordering: .relaxed) else { return }
        let left = flush(timeoutMs: flushTimeoutMs)
        if left > 0 { logger.error("producer shut down with undelivered records", metadata: ["records": "\(left)"]) }
        pollLoop.done.wait()
        rd_kafka_destroy(handle)
        free(topic)
        context.release()
    }

    deinit {
        shutdown(flushTimeoutMs: 0)
    }
}

/// Lets `shutdown` stop the poll thread and wait for it.
final class PollLoop: Sendable {
    let running = Atomic<Bool>(true)
    let done = DispatchSemaphore(value: 0)
}

/// A librdkafka client handle crossing to the poll thread. Safe: `rd_kafka_t` is thread-safe, and the
/// handle is destroyed only after that thread has stopped.
struct ClientHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Collects the delivery reports of one `send` call and resumes its continuation when all are in.
final class PendingBatch: Sendable {
    private let state: Mutex<(results: [Result<KafkaDelivery, KafkaError>?], remaining: Int)>
    private let continuation: CheckedContinuation<[Result<KafkaDelivery, KafkaError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<KafkaDelivery, KafkaError>], Never>) {
        state = Mutex((Array(repeating: nil, count: count), count))
        self.continuation = continuation
    }

    func complete(_ index: Int, _ result: Result<KafkaDelivery, KafkaError>) {
        let finished: [Result<KafkaDelivery, KafkaError>]? = state.withLock { state in
            state.results[index] = result
            state.remaining -= 1
            return state.remaining == 0 ? state.results.map { $0! } : nil
        }
        if let finished { continuation.resume(returning: finished) }
    }
}

final class DeliverySlot {
    let batch: PendingBatch
    let index: Int
    init(batch: PendingBatch, index: Int) {
        self.batch = batch
        self.index = index
    }
}

/// Runs on the poll thread for every record, delivered or failed; the per-record opaque is a retained `DeliverySlot`.
private let deliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, _ in
    guard let message, let opaque = message.pointee._private else { return }
    let slot = Unmanaged<DeliverySlot>.fromOpaque(opaque).takeRetainedValue()
    let m = message.pointee
    if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
        slot.batch.complete(slot.index, .success(KafkaDelivery(partition: m.partition, offset: m.offset)))
    } else {
        slot.batch.complete(slot.index, .failure(.delivery(code: m.err.rawValue, message: errorName(m.err))))
    }
}
