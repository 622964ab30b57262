import Dispatch
import Foundation

/// Pure work over many independent items (decoding a chunk's archived events, folding its participants), spread over
/// the machine's cores. The connection waits for this work anyway, so what it saves is wall time: a rebuild or a
/// protocol amendment decodes and folds every event of the archive.
enum ParallelMap {
    static let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// `items.map(transform)` in order, in contiguous slices on up to `workers` threads; serial below
    /// `minimumPerWorker` items a worker (a thread costs more than a small batch). The first failure, by position,
    /// is rethrown.
    static func map<T: Sendable, R: Sendable, E: Error>(_ items: [T], minimumPerWorker: Int = 64,
                                                         _ transform: @Sendable (T) throws(E) -> R) throws(E) -> [R] {
        let slices = min(workers, items.count / max(1, minimumPerWorker))
        guard slices > 1 else { return try items.map(transform) }
        let results = Results<R, E>(count: items.count)
        let sliceLength = (items.count + slices - 1) / slices
        DispatchQueue.concurrentPerform(iterations: slices) { slice in
            for index in slice * sliceLength..<min(items.count, (slice + 1) * sliceLength) {
                results.set(index, Result { () throws(E) in try transform(items[index]) })
            }
        }
        return try results.values()
    }

    /// One slot per item, each written by exactly one worker before `concurrentPerform` returns (raw memory: an
    /// array property would be one variable that every worker mutates).
    private final class Results<R, E: Error>: @unchecked Sendable {
        private let count: Int
        private let slots: UnsafeMutablePointer<Result<R, E>?>

        init(count: Int) {
            self.count = count
            slots = .allocate(capacity: count)
            slots.initialize(repeating: nil, count: count)
        }

        deinit {
            slots.deinitialize(count: count)
            slots.deallocate()
        }

        func set(_ index: Int, _ value: Result<R, E>) { slots[index] = value }

        func values() throws(E) -> [R] { try (0..<count).map { index throws(E) in try slots[index]!.get() } }
    }
}
