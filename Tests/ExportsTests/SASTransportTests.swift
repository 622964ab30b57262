import Exports
import Testing

/// The SAS XPORT v5 writer against TS-140: IBM hexadecimal doubles and the 80-byte record layout.
@Suite("SAS XPORT v5")
struct SASTransportTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined() }

    @Test func ibmDoublesOfKnownValues() {
        // 1 = 0.1 (hex) × 16^1; -118.625 = -0.76A (hex) × 16^2 (the textbook example); 0.5 = 0.8 × 16^0.
        #expect(Self.hex(SASTransport.ibmDouble(1)) == "4110000000000000")
        #expect(Self.hex(SASTransport.ibmDouble(-118.625)) == "C276A00000000000")
        #expect(Self.hex(SASTransport.ibmDouble(0.5)) == "4080000000000000")
        #expect(Self.hex(SASTransport.ibmDouble(0)) == "0000000000000000")
        // 0.1's 53 IEEE bits, shifted by 3 into IBM's 56: 0x3FB999999999999A becomes 0x401999999999999A.
        #expect(Self.hex(SASTransport.ibmDouble(0.1)) == "401999999999999A")
        #expect(Self.hex(SASTransport.ibmDouble(1.0 / 32)) == "3F80000000000000")
    }

    @Test func ibmDoublesRoundTripExactly() {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [1, -1, 120, 36.8, 1e-10, 123_456_789.125, -0.000_123, 27, 60, 1e70, 3e-70]
        for _ in 0..<2000 { values.append(Double.random(in: -1e6...1e6, using: &generator)) }
        for value in values {
            #expect(SASTransport.double(ibm: SASTransport.ibmDouble(value)) == value, "\(value)")
        }
    }

    @Test func aMissingNumberIsADotAndZeros() {
        #expect(SASTransport.double(ibm: [0x2E, 0, 0, 0, 0, 0, 0, 0]) == nil)
        let d = SDTMDataset(name: "VS", label: "Vital Signs", sdtmClass: "FINDINGS", structure: "s", keys: [],
                            columns: [("VSSTRESN", "Numeric Result", .number, .exp, nil)], rows: [[.number(nil)], [.number(120)]])
        let file = SASTransport.file([d], created: (2026, 3, 1, 12, 0, 0))
        let observations = Array(file[(file.count - 80)...])
        #expect(Array(observations[0..<8]) == [0x2E, 0, 0, 0, 0, 0, 0, 0])
        #expect(SASTransport.double(ibm: Array(observations[8..<16])) == 120)
    }

    @Test func recordsAreEightyBytesWithTheHeadersOfTS140() {
        let d = SDTMDataset(name: "DM", label: "Demographics", sdtmClass: "SPECIAL PURPOSE", structure: "s", keys: ["USUBJID"],
                            columns: [("USUBJID", "Unique Subject Identifier", .text, .req, nil), ("AGE", "Age", .number, .exp, nil)],
                            rows: [[.text("TRIAL-S01-0001"), .number(34)], [.text("TRIAL-S01-0002"), .number(nil)]])
        let file = SASTransport.file([d], created: (2026, 3, 1, 9, 5, 7))
        #expect(file.count % 80 == 0)
        func record(_ n: Int) -> String { String(decoding: file[(n * 80)..<((n + 1) * 80)], as: UTF8.self) }
        #expect(record(0) == "HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000  ")
        #expect(record(1).hasPrefix("SAS     SAS     SASLIB  9.4     "))
        #expect(record(1).hasSuffix("01MAR26:09:05:07"))
        #expect(record(3) == "HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!000000000000000001600000000140  ")
        #expect(record(5).hasPrefix("SAS     DM      SASDATA "))
        #expect(record(7) == "HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!000000000200000000000000000000  ")
        // Two namestrs of 140 bytes: the first says character (2), length 14, variable 1, name USUBJID, position 0.
        let namestr = Array(file[(8 * 80)..<(8 * 80 + 140)])
        #expect(Array(namestr[0..<10]) == [0, 2, 0, 0, 0, 14, 0, 1, 0x55, 0x53])
        let second = Array(file[(8 * 80 + 140)..<(8 * 80 + 280)])
        #expect(Array(second[0..<8]) == [0, 1, 0, 0, 0, 8, 0, 2])
        #expect(Array(second[84..<88]) == [0, 0, 0, 14], "AGE follows USUBJID's 14 bytes")
        // 280 bytes of namestrs fill 4 records (320), then the OBS header, then 2 × 22 bytes of observations in 1 record.
        #expect(record(12) == "HEADER RECORD*******OBS     HEADER RECORD!!!!!!!000000000000000000000000000000  ")
        #expect(file.count == 14 * 80)
        #expect(record(13).hasPrefix("TRIAL-S01-0001"))
    }

    @Test func textIsCutAtACharacterBoundaryAndLengthsFollowTheData() {
        let long = String(repeating: "é", count: 150)   // 300 bytes of UTF-8
        let d = SDTMDataset(name: "AE", label: "Adverse Events", sdtmClass: "EVENTS", structure: "s", keys: [],
                            columns: [("AETERM", "Reported Term", .text, .req, nil), ("AESPID", "Id", .text, .perm, nil)],
                            rows: [[.text(long), .text(nil)]])
        #expect(d.variables.map(\.length) == [200, 1], "capped at XPORT v5's 200 bytes; an all-missing column is 1 byte")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
