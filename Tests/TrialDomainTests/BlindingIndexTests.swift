import Testing
import TrialDomain

/// Bang's and James's blinding indices (issue 16) against values computed by hand for small tables (the arithmetic is
/// written out in each test) and against the published example of the R package BI (Mercaldo, Schwartz), whose
/// table is James et al. 1996's disulfiram trial layout.
@Suite("Blinding indices")
struct BlindingIndexTests {
    static func table(_ aa: Int, _ ap: Int, _ adk: Int, _ pa: Int, _ pp: Int, _ pdk: Int) -> BlindingIndex.Table {
        BlindingIndex.Table(active: .init(guessedActive: aa, guessedPlacebo: ap, dontKnow: adk),
                            placebo: .init(guessedActive: pa, guessedPlacebo: pp, dontKnow: pdk))
    }

    static func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool { abs(a - b) <= tolerance }

    /// Active arm 2 right, 1 wrong, 1 don't know; placebo arm the same. N = 8.
    /// Bang (each arm): (2 − 1) / 4 = 0.25; p_c = 0.5, p_w = 0.25, Var = (0.5 + 0.25 − 0.25²) / 4 = 0.171875.
    /// James: p_dk = 2/8 = 0.25; row and column sums of the guessers 3/8 each; P_o = 0.5 · (1/8 + 1/8) / 0.75 = 1/6;
    /// P_e = 0.5 · 2 · (3/8)² / 0.75² = 0.25; κ_d = (1/6 − 1/4) / (1/4) = −1/3; BI = (1 + 0.25 + 0.75 · (−1/3)) / 2 = 0.5.
    /// V1 = [0.25·0.5625·0.25² · 2 + 0.125·0.5625·0.125² · 2] / (4 · 0.140625²) = 0.019775390625 / 0.0791015625 = 0.25;
    /// V2 = 0.25·0.75 − 0.75·(2/3)·(0.25 + 0.75·(2/3)/4) = 0.1875 − 0.1875 = 0; Var = 0.25 / 8 = 0.03125.
    @Test func aSmallTableComputedByHand() throws {
        let t = Self.table(2, 1, 1, 1, 2, 1)
        let active = try #require(BlindingIndex.bangActive(t))
        let placebo = try #require(BlindingIndex.bangPlacebo(t))
        #expect(Self.close(active.value, 0.25) && Self.close(placebo.value, 0.25))
        #expect(Self.close(active.standardError, 0.171875.squareRoot()))
        #expect(Self.close(active.lower, 0.25 - 1.959963984540054 * 0.171875.squareRoot()))
        let james = try #require(BlindingIndex.james(t))
        #expect(Self.close(james.value, 0.5))
        #expect(Self.close(james.standardError, 0.03125.squareRoot()))
        #expect(james.n == 8 && active.n == 4)
    }

    /// Everyone guessed right: Bang 1 in both arms (no blinding), James 0 (complete unblinding), no variance.
    @Test func everyoneRightIsNoBlinding() throws {
        let t = Self.table(3, 0, 0, 0, 3, 0)
        #expect(try #require(BlindingIndex.bangActive(t)).value == 1)
        #expect(try #require(BlindingIndex.bangPlacebo(t)).value == 1)
        let james = try #require(BlindingIndex.james(t))
        #expect(Self.close(james.value, 0) && Self.close(james.standardError, 0))
    }

    /// Everyone guessed the other arm: Bang −1 (opposite guessing), as in an active-placebo trial whose placebo fooled
    /// both arms the wrong way round.
    @Test func everyoneWrongIsOppositeGuessing() throws {
        let t = Self.table(0, 2, 0, 2, 0, 0)
        #expect(try #require(BlindingIndex.bangActive(t)).value == -1)
        #expect(try #require(BlindingIndex.bangPlacebo(t)).value == -1)
        // P_o = 0.5 · 1 / 1 = 0.5, P_e = 0.5 · 2 · 0.5 · 0.5 = 0.25, κ_d = 1, BI = (1 + 0 + 1) / 2 = 1.
        #expect(Self.close(try #require(BlindingIndex.james(t)).value, 1))
    }

    /// Everyone answered don't know: Bang 0, James 1 (complete blinding) without variance.
    @Test func everyoneDontKnowIsCompleteBlinding() throws {
        let t = Self.table(0, 0, 5, 0, 0, 4)
        let bang = try #require(BlindingIndex.bangActive(t))
        #expect(bang.value == 0 && bang.standardError == 0)
        let james = try #require(BlindingIndex.james(t))
        #expect(james.value == 1 && james.standardError == 0)
    }

    /// Half right, half wrong in each arm, no don't know: random guessing, Bang 0, James 0.5.
    /// P_o = 0.5 · (2 + 2)/8 = 0.25 = P_e (= 0.5 · 2 · 0.5 · 0.5), κ_d = 0.
    @Test func halfRightIsRandomGuessing() throws {
        let t = Self.table(2, 2, 0, 2, 2, 0)
        #expect(try #require(BlindingIndex.bangActive(t)).value == 0)
        #expect(Self.close(try #require(BlindingIndex.james(t)).value, 0.5))
    }

    /// The R package BI's example (its documentation; the same output from the Julia port): guesses 48/4/330 in the
    /// treatment arm, 22/30/319 under placebo. James 0.896 (SE 0.011), Bang 0.115 (0.018) and 0.022 (0.019).
    @Test func thePublishedExample() throws {
        let t = Self.table(48, 4, 330, 22, 30, 319)
        let james = try #require(BlindingIndex.james(t))
        #expect(Self.close(james.value, 0.896, 0.0005) && Self.close(james.standardError, 0.011, 0.0005))
        let active = try #require(BlindingIndex.bangActive(t))
        #expect(Self.close(active.value, 44.0 / 382) && Self.close(active.standardError, 0.018, 0.0005))
        let placebo = try #require(BlindingIndex.bangPlacebo(t))
        #expect(Self.close(placebo.value, 8.0 / 371) && Self.close(placebo.standardError, 0.019, 0.0005))
    }

    /// No answers: no index; no guessers in one arm's column: no chance disagreement, so no James index.
    @Test func noAnswersNoIndex() {
        let empty = Self.table(0, 0, 0, 0, 0, 0)
        #expect(BlindingIndex.bangActive(empty) == nil && BlindingIndex.james(empty) == nil)
        #expect(BlindingIndex.james(Self.table(3, 0, 1, 0, 0, 2)) == nil)
        #expect(BlindingIndex.bangPlacebo(Self.table(3, 0, 1, 0, 0, 0)) == nil)
    }
}
