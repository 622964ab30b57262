@testable import Dashboard
import Postgres
import Reporting
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialDomain

/// The accountability page's deadlines, from events applied straight to a database.
@Suite("Dashboard accountability")
struct AccountabilityPageTests {
    /// Two thefts at S01, both long past their DEA notification deadline; the first acknowledged. Read as the monitor.
    static func twoLosses() throws -> (monitor: PostgresConnection, closed: String, open: String) {
        let db = try TestStack.migratedDatabase()
        var s = ParticipantStory.standard()
        s.add(.drugReceived, day: -5, ["lot": "L1", "substance": "lsd", "quantity": 1000, "unit": "ug", "supplier": "P", "expires_on": "2027-01-10"])
        let closed = s.add(.drugLost, day: 7, hour: 10, ["lot": "L1", "quantity": 20, "unit": "ug", "kind": "theft",
                                                         "discovered_at": "2026-01-12T09:00:00Z", "description": "cabinet forced"])
        let open = s.add(.drugLost, day: 8, hour: 10, ["lot": "L1", "quantity": 10, "unit": "ug", "kind": "theft",
                                                       "discovered_at": "2026-01-13T09:00:00Z", "description": "cabinet forced again"])
        s.add(.signalAcknowledged, day: 9, ["signal_id": .string("drug_loss:\(closed)"), "note": "DEA told"], siteLevel: true,
              recordedBy: "monitor.mo")
        try TestStack.apply(s.events, to: db)
        return (try PostgresConnection(url: TestStack.url(db.url, user: DatabaseRole.monitor.rawValue)), closed, open)
    }

    /// Only the open loss is overdue (`monitoring.drug_loss_notifications`' judgement); before, every loss was counted
    /// down, a closed one "PAST" forever.
    @Test func onlyAnOpenLossIsOverdue() throws {
        let (monitor, _, _) = try Self.twoLosses()
        let signals = try DashboardData.custodySignals(monitor, scope: nil).filter { $0.rule == "drug_loss" }
        try #require(signals.map(\.status).sorted() == ["acknowledged", "open"], "\(signals.map(\.status))")
        let page = Pages.accountability(viewer: Pages.Viewer(subject: "monitor", role: .monitor, scope: nil), signals: signals, sites: ["S01"])
        #expect(page.components(separatedBy: "PAST by").count - 1 == 1, "only the open loss is overdue")
    }

    /// A loss is critical: the live page announces the open one, and a notification naming the closed one (forged, or
    /// late) shows nothing. Catching up reads the open ones of the viewer's sites only.
    @Test func onlyOpenCriticalSignalsAreAnnounced() throws {
        let (monitor, closed, open) = try Self.twoLosses()
        func notified(_ id: String) throws -> AnnouncedSignal? { try AnnouncedSignal.lookUp(notification: "{\"signal_id\":\"\(id)\"}", monitor) }
        #expect(try notified("drug_loss:\(closed)") == nil)
        let announced = try #require(try notified("drug_loss:\(open)"))
        #expect(announced.deadline != nil && announced.occurredAt.utc(.minute) == "2026-01-13T09:00Z", "\(announced)")
        #expect(try AnnouncedSignal.open(monitor, sites: ["S01"]).map(\.signalID).contains("drug_loss:\(open)"))
        #expect(try !AnnouncedSignal.open(monitor, sites: ["S01"]).map(\.signalID).contains("drug_loss:\(closed)"))
        #expect(try AnnouncedSignal.open(monitor, sites: ["S02"]).isEmpty)
    }
}
