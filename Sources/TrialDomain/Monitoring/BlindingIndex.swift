/// Blinding indices (issue 16): how well a two-arm trial's blind held, from who guessed which arm.
///
/// The input is the 3 × 2 table of guesses (rows: guessed active, guessed placebo, don't know) by the arm actually
/// assigned (columns: active, placebo). Only an unblinded reader can build it: it needs each participant's arm.
///
/// - **Bang's index** (Bang H, Ni L, Davis CE. Assessment of blinding in clinical trials. Control Clin Trials
///   2004;25:143-156), per arm, "don't know" counted in the denominator:
///   `BI = (correct − incorrect) / n` for the arm's `n` answers, i.e. `(2·p_correct|guessed − 1)·(1 − p_dk)`. It runs
///   from −1 (everyone guessed the other arm: opposite guessing) through 0 (random guessing, or everyone answered don't
///   know) to 1 (everyone guessed right: no blinding). Variance of the difference of two multinomial proportions
///   `p_c = correct/n`, `p_w = incorrect/n`: `Var = [p_c(1 − p_c) + p_w(1 − p_w) + 2·p_c·p_w] / n`
///   `= [p_c + p_w − (p_c − p_w)²] / n`; the 95 % interval is `BI ± 1.959964·√Var` (Wald).
/// - **James's index** (James KE, Bloch DA, Lee KK, Kraemer HC, Fuller RK. An index for assessing blindness in a
///   multi-centre clinical trial: disulfiram for alcohol cessation. Stat Med 1996;15:1421-1434), over both arms: a
///   kappa-type coefficient of disagreement between guess and arm, with the 1996 weights (correct guess 0, incorrect
///   0.5, don't know 1). With `p_ij` the table's cells over its total `N`, `p_i.` row sums, `p_.j` column sums,
///   `p_dk = p_3.` and `q_j = p_.j − p_3j` (the column's guessers):
///   `P_o = Σ_{i,j≤2} w_ij·p_ij / (1 − p_dk)`, `P_e = Σ_{i,j≤2} w_ij·p_i.·q_j / (1 − p_dk)²`,
///   `κ_d = (P_o − P_e) / P_e`, `BI = (1 + p_dk + (1 − p_dk)·κ_d) / 2`: 0 = complete unblinding, 0.5 = random
///   guessing, 1 = complete blinding (everyone answered don't know). Its large-sample variance (James 1996, appendix;
///   as in the R package BI by Mercaldo and Schwartz): `Var = (V1 + V2) / N` with
///   `V1 = Σ_{i,j≤2} p_ij (1 − p_dk)² [(1 − p_dk)·w_ij − (1 + κ_d)·Σ_{r≤2}(w_rj·p_r. + w_ir·q_r)]² / (4·[Σ_{i,j≤2} w_ij·p_i.·q_j]²)`,
///   `V2 = p_dk(1 − p_dk) − (1 − p_dk)(1 + κ_d)(p_dk + (1 − p_dk)(1 + κ_d)/4)`.
public enum BlindingIndex {
    /// The guesses of one group of assessors, by arm: `active[guess]` for the active arm, `placebo[guess]` for placebo.
    public struct Table: Sendable, Equatable {
        public var active: Counts
        public var placebo: Counts

        public init(active: Counts, placebo: Counts) {
            self.active = active
            self.placebo = placebo
        }

        public var total: Int { active.total + placebo.total }
    }

    /// One arm's answers.
    public struct Counts: Sendable, Equatable {
        public var guessedActive: Int
        public var guessedPlacebo: Int
        public var dontKnow: Int

        public init(guessedActive: Int, guessedPlacebo: Int, dontKnow: Int) {
            self.guessedActive = guessedActive
            self.guessedPlacebo = guessedPlacebo
            self.dontKnow = dontKnow
        }

        public var total: Int { guessedActive + guessedPlacebo + dontKnow }
    }

    /// An index with its standard error and 95 % Wald interval.
    public struct Estimate: Sendable, Equatable {
        public var value: Double
        public var standardError: Double
        public var lower: Double { value - z95 * standardError }
        public var upper: Double { value + z95 * standardError }
        public var n: Int
    }

    /// The 97.5th percentile of the standard normal distribution.
    public static let z95 = 1.959963984540054

    /// Bang's index of one arm: `correct` guesses of that arm, `incorrect` ones, and don't know; nil without answers.
    public static func bang(correct: Int, incorrect: Int, dontKnow: Int) -> Estimate? {
        let n = correct + incorrect + dontKnow
        guard n > 0 else { return nil }
        let pc = Double(correct) / Double(n)
        let pw = Double(incorrect) / Double(n)
        let variance = (pc * (1 - pc) + pw * (1 - pw) + 2 * pc * pw) / Double(n)
        return Estimate(value: pc - pw, standardError: variance.squareRoot(), n: n)
    }

    /// Bang's index of the active arm (a correct guess is "active").
    public static func bangActive(_ t: Table) -> Estimate? {
        bang(correct: t.active.guessedActive, incorrect: t.active.guessedPlacebo, dontKnow: t.active.dontKnow)
    }

    /// Bang's index of the placebo arm (a correct guess is "placebo").
    public static func bangPlacebo(_ t: Table) -> Estimate? {
        bang(correct: t.placebo.guessedPlacebo, incorrect: t.placebo.guessedActive, dontKnow: t.placebo.dontKnow)
    }

    /// James's index over both arms; nil without answers. Everyone answering don't know is complete blinding (1, no
    /// variance); a table without the disagreement expected by chance (`P_e = 0`: one arm has no guessers, or nobody
    /// guessed one of the arms) has no kappa, and so no index.
    public static func james(_ t: Table) -> Estimate? {
        let n = Double(t.total)
        guard n > 0 else { return nil }
        // Rows i: 0 guessed active, 1 guessed placebo; columns j: 0 assigned active, 1 assigned placebo.
        let cell: [[Double]] = [[Double(t.active.guessedActive), Double(t.placebo.guessedActive)],
                                [Double(t.active.guessedPlacebo), Double(t.placebo.guessedPlacebo)]].map { $0.map { $0 / n } }
        let dk = Double(t.active.dontKnow + t.placebo.dontKnow) / n
        if dk == 1 { return Estimate(value: 1, standardError: 0, n: t.total) }
        let w: [[Double]] = [[0, 0.5], [0.5, 0]]
        let row = [cell[0][0] + cell[0][1], cell[1][0] + cell[1][1]]  // p_i. (guessers only: the dk row is not summed)
        let q = [cell[0][0] + cell[1][0], cell[0][1] + cell[1][1]]  // q_j = p_.j − p_3j
        var observed = 0.0, chance = 0.0
        for i in 0..<2 {
            for j in 0..<2 {
                observed += w[i][j] * cell[i][j]
                chance += w[i][j] * row[i] * q[j]
            }
        }
        guard chance > 0 else { return nil }
        let guessing = 1 - dk
        let po = observed / guessing
        let pe = chance / (guessing * guessing)
        let kappa = (po - pe) / pe
        let value = (1 + dk + guessing * kappa) / 2
        var v1 = 0.0
        for i in 0..<2 {
            for j in 0..<2 {
                var extra = 0.0
                for r in 0..<2 { extra += w[r][j] * row[r] + w[i][r] * q[r] }
                let term = guessing * w[i][j] - (1 + kappa) * extra
                v1 += cell[i][j] * guessing * guessing * term * term
            }
        }
        v1 /= 4 * chance * chance
        let v2 = dk * guessing - guessing * (1 + kappa) * (dk + guessing * (1 + kappa) / 4)
        let variance = max(0, (v1 + v2) / n)
        return Estimate(value: value, standardError: variance.squareRoot(), n: t.total)
    }
}
