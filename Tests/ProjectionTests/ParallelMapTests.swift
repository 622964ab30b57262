@testable import Projection
import Testing

@Suite("parallel map")
struct ParallelMapTests {
    @Test func keepsTheOrderOfItsItemsWhateverTheSlices() throws {
        for count in [0, 1, 63, 64, 65, 128, 1_001] {
            let items = Array(0..<count)
            #expect(try ParallelMap.map(items, minimumPerWorker: 1) { $0 * 3 } == items.map { $0 * 3 })
            #expect(try ParallelMap.map(items) { String($0) } == items.map(String.init))
        }
    }

    @Test func rethrowsTheFirstFailureByPosition() {
        struct Failure: Error, Equatable { var item: Int }
        #expect(throws: Failure(item: 10)) {
            try ParallelMap.map(Array(0..<1_000), minimumPerWorker: 1) { item -> Int in
                if item == 10 || item == 900 { throw Failure(item: item) }
                return item
            }
        }
    }
}
