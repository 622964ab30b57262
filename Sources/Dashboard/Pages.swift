import Reporting
import TrialDomain

/// The dashboard's HTML: one layout, one page per view. Pure functions of what was read: everything from the database
/// or the request goes through `HTMLText.escape`; the only script is the signals page's live feed (by nonce).
enum Pages {
    static let e = HTMLText.escape

    /// Who is looking: shown in the header of every page.
    struct Viewer: Sendable {
        var subject: String
        var role: Role
        var scope: SiteScope

        var scopeText: String { scope.map { "sites " + $0.sorted().joined(separator: ", ") } ?? "all sites" }
    }

    static let style = """
        :root{--fg:#1a1a1a;--muted:#4a4a4a;--line:#8a8a8a;--head:#e8edf2;--crit:#a00000;--warn:#7a4a00;--link:#0b4f8a}
        *{box-sizing:border-box}body{font-family:system-ui,sans-serif;color:var(--fg);background:#fff;margin:0;line-height:1.45}
        a{color:var(--link)}a:focus,button:focus,input:focus,textarea:focus,summary:focus{outline:3px solid #e08a00;outline-offset:2px}
        .skip{position:absolute;left:-999px}.skip:focus{left:1em;top:1em;background:#fff;padding:.5em;z-index:9}
        header{background:#123;color:#fff;padding:.6em 1em;display:flex;flex-wrap:wrap;gap:.4em 1.2em;align-items:center}
        header a{color:#fff}header nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.2em 1em}
        header .who{margin-left:auto;font-size:.9em}header form{display:inline}
        header button{background:none;border:1px solid #fff;color:#fff;border-radius:3px;padding:.1em .5em;cursor:pointer}
        main{padding:1em;max-width:72em}h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.2em;margin-top:1.4em}
        .table-wrap{overflow-x:auto}table{border-collapse:collapse;margin:.5em 0 1em;min-width:20em}
        th,td{border:1px solid var(--line);padding:.25em .5em;text-align:left;vertical-align:top}th{background:var(--head)}
        td.num{text-align:right}.critical{color:var(--crit);font-weight:bold}.warning{color:var(--warn)}.past{color:var(--crit);font-weight:bold}
        .note{color:var(--muted);font-size:.92em}svg{max-width:100%;height:auto;display:block}figure{margin:0 0 1em}
        dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em}dl.summary dt{font-weight:bold}dl.summary dd{margin:0}
        tr.live{background:#fff3c4}.login textarea{width:100%;max-width:40em;font-family:monospace}
        @media (max-width:40em){main{padding:.5em}th,td{padding:.2em .3em;font-size:.9em}header .who{margin-left:0}}
        @media print{header nav,header form,.skip,.no-print{display:none}body{font-size:10pt}main{max-width:none}
        a{color:inherit;text-decoration:none}tr,figure{page-break-inside:avoid}th{background:#eee}
        .table-wrap{overflow:visible}table{width:100%;min-width:0;font-size:8pt}td,th{overflow-wrap:anywhere}}
        """

    static func layout(title: String, viewer: Viewer?, body: String, script: (nonce: String, source: String)? = nil) -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(e(title)) · trial monitoring</title><style>\(style)</style></head><body>
            <a class="skip" href="#main">Skip to content</a><header><strong>Trial monitoring</strong>
            """
        if let viewer {
            page += """
                <nav aria-label="Dashboard"><ul><li><a href="/">Overview</a></li><li><a href="/sites">Sites</a></li>\
                <li><a href="/signals">Signals</a></li><li><a href="/accountability">Accountability</a></li></ul></nav>\
                <span class="who">\(e(viewer.subject)) (\(e(viewer.role.rawValue)), \(e(viewer.scopeText))) \
                <form method="post" action="/logout"><button type="submit">Log out</button></form></span>
                """
        }
        page += "</header><main id=\"main\"><h1>\(e(title))</h1>" + body + "</main>"
        if let script { page += "<script nonce=\"\(script.nonce)\">\(script.source)</script>" }
        return page + "</body></html>\n"
    }

    /// - Parameter live: rows are added while the page is open: announced to screen readers.
    static func table(id: String, caption: String, header: [String], rows: [[Cell]], rowAttributes: [String]? = nil, live: Bool = false) -> String {
        var html = "<div class=\"table-wrap\"><table id=\"\(e(id))\"><caption class=\"note\">\(e(caption))</caption><thead><tr>"
            + header.map { "<th scope=\"col\">\(e($0))</th>" }.joined() + "</tr></thead><tbody"
            + (live ? " aria-live=\"polite\" aria-relevant=\"additions\"" : "") + ">"
        for (i, row) in rows.enumerated() {
            html += "<tr\(rowAttributes.map { " " + $0[i] } ?? "")>" + row.map(\.html).joined() + "</tr>"
        }
        if rows.isEmpty { html += "<tr><td colspan=\"\(header.count)\">none</td></tr>" }
        return html + "</tbody></table></div>"
    }

    /// A table cell: text (escaped), a number (right-aligned), or a link.
    struct Cell {
        var html: String
        static func text(_ s: String, cls: String? = nil) -> Cell { Cell(html: "<td\(cls.map { " class=\"\($0)\"" } ?? "")>\(e(s))</td>") }
        static func number(_ v: Int) -> Cell { Cell(html: "<td class=\"num\">\(v)</td>") }
        static func link(_ s: String, href: String) -> Cell { Cell(html: "<td><a href=\"\(e(href))\">\(e(s))</a></td>") }
        static func header(_ s: String) -> Cell { Cell(html: "<th scope=\"row\">\(e(s))</th>") }
    }

    static func participantHref(_ id: String) -> String { "/participants/" + percentEncoded(id) }

    /// A path segment: unreserved characters as they are, everything else percent-encoded.
    static func percentEncoded(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            if (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || [0x2D, 0x2E, 0x5F, 0x7E].contains(byte) {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// The calendar day (UTC) of an instant.
    static func date(_ t: Timestamp) -> String { String(t.utc(.minute).prefix(10)) }

    static func hours(_ h: Double?) -> String { h.map { HTMLText.number($0, 1) + " h" } ?? "-" }

    // MARK: Pages

    static func login(reason: String?, next: String) -> String {
        layout(title: "Log in", viewer: nil, body: """
            <div class="login">\(reason.map { "<p role=\"alert\" class=\"critical\">\(e($0))</p>" } ?? "")
            <p>Monitors, sponsors and auditors: paste the bearer token you use with ingest. It is checked and not kept: this
            dashboard gives your browser a session of its own (a cookie only this site can read, HttpOnly, SameSite=Strict)
            that ends when you log out, or when the token expires (8 h at most).</p>
            <form method="post" action="/login"><input type="hidden" name="next" value="\(e(next))">
            <p><label for="token">Bearer token</label><br><textarea id="token" name="token" rows="5" required autocomplete="off"></textarea></p>
            <p><button type="submit">Log in</button></p></form></div>
            """)
    }

    static func refusal(title: String, detail: String, viewer: Viewer?) -> String {
        layout(title: title, viewer: viewer, body: "<p role=\"alert\">\(e(detail))</p>")
    }

    static func overview(viewer: Viewer, enrolments: [(site: String, at: Timestamp)], status: StatusReport, target: Int?,
                         now: Timestamp) -> String {
        var body = "<p>Enrolled: <strong>\(enrolments.count)</strong>"
            + (target.map { " of a target of <strong>\($0)</strong> (\(HTMLText.number(Double(enrolments.count) * 100 / Double(max($0, 1)), 1)) %)" } ?? "")
            + ". Times in UTC; counts as of \(e(now.utc(.minute))).</p>"
        body += "<h2>Enrolment over time</h2>" + enrolmentPlot(enrolments, target: target, now: now)
        body += "<h2>By site</h2>" + table(
            id: "enrolment-by-site", caption: "Participants by status, per site",
            header: ["site", "enrolled (ever)", "on study", "completed", "withdrawn", "screen failed", "first enrolment", "latest enrolment"],
            rows: status.sites.map { s in
                let times = enrolments.filter { $0.site == s.siteID }.map(\.at)
                return [.link(s.siteID, href: "/sites#site-\(s.siteID)"), .number(times.count), .number(s.enrolled), .number(s.completed), .number(s.withdrawn),
                        .number(s.screenFailed), .text(times.first?.utc(.minute) ?? "-"), .text(times.last?.utc(.minute) ?? "-")]
            })
        return layout(title: "Study overview", viewer: viewer, body: body)
    }

    /// Cumulative enrolments per site and in total (days since the first), with the target as a line.
    static func enrolmentPlot(_ enrolments: [(site: String, at: Timestamp)], target: Int?, now: Timestamp) -> String {
        guard let first = enrolments.first?.at else { return "<p>No participant is enrolled yet.</p>" }
        func day(_ t: Timestamp) -> Double { Double(t.microsecondsSinceEpoch - first.microsecondsSinceEpoch) / 86_400_000_000 }
        let lastDay = max(day(now), day(enrolments.last!.at), 1)
        func steps(_ times: [Timestamp]) -> [(x: Double, y: Double)] {
            var points: [(x: Double, y: Double)] = []
            for (i, t) in times.enumerated() {
                points.append((x: day(t), y: Double(i)))
                points.append((x: day(t), y: Double(i + 1)))
            }
            points.append((x: lastDay, y: Double(times.count)))
            return points
        }
        let sites = Array(Set(enrolments.map(\.site))).sorted()
        var series = [SVGLinePlot.Series(name: "all sites", points: steps(enrolments.map(\.at)), cssClass: "enrolment-total")]
        series += sites.map { site in SVGLinePlot.Series(name: site, points: steps(enrolments.filter { $0.site == site }.map(\.at)),
                                                         cssClass: "enrolment-site") }
        let top = Double(max(enrolments.count, target ?? 0)) * 1.1
        let description = "Cumulative enrolment from \(first.utc(.minute)) to now: \(enrolments.count) in total"
            + (target.map { " against a target of \($0)" } ?? "") + "; "
            + sites.map { site in "\(site) \(enrolments.filter { $0.site == site }.count)" }.joined(separator: ", ")
        var plot = SVGLinePlot(cssClass: "enrolment", title: "Cumulative enrolment", description: description,
                               xLabel: "days since the first enrolment", xRange: 0...lastDay, yRange: 0...max(top, 1), series: series)
        plot.xEndLabels = (date(first), date(now))
        if let target { plot.rules = [SVGLinePlot.Rule(y: Double(target), label: "target \(target)", cssClass: "target")] }
        return "<figure>" + plot.svg + "</figure>"
    }

    static func sites(viewer: Viewer, status: StatusReport, workload: [String: DashboardData.SiteWorkload]) -> String {
        var body = "<p class=\"note\">Overdue assessments, open items and lag are as of now. Data-entry lag: median hours from when a "
            + "dose, assessment or vital sign happened to when it was recorded.</p>"
        body += table(
            id: "sites", caption: "Sites",
            header: ["site", "screen failed", "on study", "withdrawn", "completed", "open AEs", "open signals", "overdue assessments",
                     "open queries", "last event (UTC)", "data-entry lag"],
            rows: status.sites.map { s in
                let w = workload[s.siteID] ?? DashboardData.SiteWorkload()
                return [.header(s.siteID), .number(s.screenFailed), .number(s.enrolled), .number(s.withdrawn), .number(s.completed),
                        .number(s.openAdverseEvents), .number(s.openSignals), .number(w.overdueAssessments), .number(s.openQueries),
                        .text(s.lastEventAt), .text(hours(w.dataEntryLagHours))]
            }, rowAttributes: status.sites.map { "id=\"site-\(e($0.siteID))\"" })
        body += "<h2>Participants</h2>" + table(
            id: "participants", caption: "Participants, by site",
            header: ["participant", "site", "status", "enrolled (UTC)", "doses", "adherence", "PHQ-9 baseline → latest", "open signals"],
            rows: status.participants.map { p in
                [.link(p.participantID, href: participantHref(p.participantID)), .text(p.siteID), .text(p.status), .text(p.enrolledAt ?? "-"),
                 .number(p.doses), .text(p.adherence.map { $0 + " %" } ?? "-"),
                 .text("\(p.baselinePHQ9.map(String.init) ?? "-") → \(p.latestPHQ9.map(String.init) ?? "-")"), .number(p.openSignals)]
            })
        return layout(title: "Sites", viewer: viewer, body: body)
    }

    static func participant(viewer: Viewer, timeline: ParticipantTimeline, trajectories: [DashboardData.Trajectory],
                            doses: (doses: [DashboardData.Dose], titration: [(at: Timestamp, details: String)])) -> String {
        var body = "<dl class=\"summary\">" + timeline.header.map { "<dt>\(e($0.0))</dt><dd>\(e($0.1))</dd>" }.joined() + "</dl>"
        body += "<h2>Scores</h2><p class=\"note\">Totals over time (UTC); the dashed lines are the baseline and the severity cut-offs.</p>"
        for t in trajectories {
            body += "<h3>\(e(DashboardData.plotted.first { $0.instrument == t.instrument }!.name))</h3>" + trajectoryPlot(t)
        }
        body += "<h2>Doses</h2>" + dosePlot(doses.doses, titration: doses.titration)
        let sections: [(String, String, (String) -> Bool)] = [
            ("vitals", "Vital signs", { $0 == "vitals" }),
            ("adverse-events", "Adverse events", { $0 == "ADVERSE EVENT" }),
            ("signals", "Safety signals", { $0.hasPrefix("SIGNAL") }),
            ("corrections", "Corrections and voids", { $0 == "corrected" || $0 == "voided" }),
        ]
        for (id, title, matches) in sections {
            let entries = timeline.entries.filter { matches($0.kind) }
            body += "<h2>\(title)</h2>" + table(id: id, caption: "\(title) (UTC)", header: ["when", "what", "details"],
                                                 rows: entries.map { [.text($0.at), .text($0.kind, cls: severityClass($0.kind)), .text($0.text)] })
        }
        body += "<h2>Timeline</h2>" + table(id: "timeline", caption: "Everything recorded, in time order (UTC)", header: ["when", "what", "details"],
                                            rows: timeline.entries.map { [.text($0.at), .text($0.kind, cls: severityClass($0.kind)), .text($0.text)] })
        return layout(title: "Participant \(timeline.participantID)", viewer: viewer, body: body)
    }

    static func severityClass(_ kind: String) -> String? {
        kind.contains("CRITICAL") ? "critical" : kind.contains("WARNING") || kind == "ADVERSE EVENT" ? "warning" : nil
    }

    static func trajectoryPlot(_ t: DashboardData.Trajectory) -> String {
        let plot = DashboardData.plotted.first { $0.instrument == t.instrument }!
        guard let first = t.scores.first?.at, let last = t.scores.last?.at else { return "<p>No \(e(plot.name)) scores recorded.</p>" }
        func day(_ at: Timestamp) -> Double { Double(at.microsecondsSinceEpoch - first.microsecondsSinceEpoch) / 86_400_000_000 }
        let maximum = Double(t.instrument.maximumTotal ?? 27)
        var svg = SVGLinePlot(cssClass: "trajectory", title: "\(plot.name) total",
                              description: "\(plot.name) totals, \(t.scores.count) assessment(s): "
                                  + t.scores.map { "\(date($0.at)) \($0.total)" }.joined(separator: ", ")
                                  + (t.baseline.map { "; baseline \($0)" } ?? "; no baseline"),
                              xLabel: "days since the first assessment", xRange: 0...max(day(last), 1), yRange: 0...maximum,
                              series: [SVGLinePlot.Series(name: plot.name, points: t.scores.map { (x: day($0.at), y: Double($0.total)) },
                                                          cssClass: "score-line", markers: true)])
        svg.attributes = "data-instrument=\"\(e(t.instrument.rawValue))\""
        svg.xEndLabels = (date(first), date(last))
        svg.height = 220
        svg.rules = (t.baseline.map { [SVGLinePlot.Rule(y: Double($0), label: "baseline \($0)", cssClass: "baseline", dashed: false, labelAtStart: true)] } ?? [])
            + plot.thresholds.map { SVGLinePlot.Rule(y: Double($0.0), label: $0.1, cssClass: "threshold") }
        return "<figure>" + svg.svg + "</figure>"
    }

    /// Doses as a cumulative count over time; titration signals as their own points. Product, amount and lot are
    /// blinded (they tell the arm), so the titration itself shows only through its signals.
    static func dosePlot(_ doses: [DashboardData.Dose], titration: [(at: Timestamp, details: String)]) -> String {
        guard let first = doses.first?.at, let last = doses.last?.at else { return "<p>No doses recorded.</p>" }
        func day(_ at: Timestamp) -> Double { Double(at.microsecondsSinceEpoch - first.microsecondsSinceEpoch) / 86_400_000_000 }
        let cumulative = doses.enumerated().map { (x: day($0.element.at), y: Double($0.offset + 1)) }
        let flagged = titration.map { t in (x: day(t.at), y: Double(doses.filter { $0.at <= t.at }.count)) }
        var plot = SVGLinePlot(cssClass: "doses", title: "Doses given",
                               description: "\(doses.count) dose(s) from \(date(first)) to \(date(last)), "
                                   + "\(doses.filter { !$0.supervised }.count) unsupervised; \(titration.count) titration step signal(s)",
                               xLabel: "days since the first dose", xRange: 0...max(day(last), 1), yRange: 0...Double(doses.count) * 1.1,
                               series: [SVGLinePlot.Series(name: "doses", points: cumulative, cssClass: "dose-line", markers: true),
                                        SVGLinePlot.Series(name: "titration step exceeded", points: flagged, cssClass: "titration", markers: true)])
        plot.xEndLabels = (date(first), date(last))
        plot.height = 200
        return "<figure>" + plot.svg + "</figure><p class=\"note\">The product, amount and lot of a dose tell the arm and are not shown; "
            + "a dose raised by more than the protocol's titration step appears as a <code>titration_step_exceeded</code> signal.</p>"
            + table(id: "titration", caption: "Titration signals (UTC)", header: ["when", "details"],
                    rows: titration.map { [.text($0.at.utc(.minute)), .text($0.details)] })
    }

    static func signals(viewer: Viewer, report: SignalsReport, now: Timestamp, nonce: String) -> String {
        var body = "<p class=\"note\">Open signals, critical first, oldest first; ages and deadlines as of \(e(now.utc(.minute))), "
            + "counted on by this page each minute. New critical signals appear here as the projector opens them, among the "
            + "critical ones by when they occurred (<span id=\"live-state\" role=\"status\">connecting…</span>).</p>"
        body += table(id: "signals", caption: "Open safety signals",
                      header: ["severity", "rule", "participant", "site", "occurred (UTC)", "age", "deadline", "details"],
                      rows: report.signals.map { s in
                          var deadline = Cell.text("-")
                          if let d = s.deadline, let left = s.hoursLeft {
                              deadline = left < 0 ? .text("\(d): PAST by \(HTMLText.number(-left, 1)) h", cls: "past")
                                  : .text("\(d): \(HTMLText.number(left, 1)) h left")
                          }
                          return [.text(s.severity.uppercased(), cls: s.severity), .text(s.rule),
                                  s.participantID.map { .link($0, href: participantHref($0)) } ?? .text(s.siteID == nil ? "(study)" : "(site)"),
                                  .text(s.siteID ?? "-"), .text(s.occurredAt), .text(SignalsReport.age(s.ageHours)), deadline, .text(s.details)]
                      }, rowAttributes: report.signals.map {
                          "data-signal-id=\"\(e($0.signalID))\" data-occurred=\"\(e($0.occurredAt))\"" + ($0.deadline.map { " data-deadline=\"\(e($0))\"" } ?? "")
                      }, live: true)
        return layout(title: "Safety signals", viewer: viewer, body: body, script: (nonce, liveScript))
    }

    /// Adds each critical signal the stream sends among the critical rows, oldest first (text only: nothing is parsed
    /// as HTML), and counts every row's age and deadline on each minute (as `SignalsReport` words them).
    static let liveScript = """
        (function(){var state=document.getElementById('live-state');var body=document.querySelector('#signals tbody');
        function hours(t){return (Date.now()-Date.parse(t))/3600000;}
        function age(h){return h>=48?Math.floor(h/24)+' d':(Math.round(h*10)/10).toFixed(1)+' h';}
        function tick(tr){var o=tr.getAttribute('data-occurred'),d=tr.getAttribute('data-deadline');if(!o)return;
        tr.cells[5].textContent=age(hours(o));if(!d)return;var left=-hours(d);
        tr.cells[6].textContent=d+(left<0?': PAST by '+(-left).toFixed(1)+' h':': '+left.toFixed(1)+' h left');
        tr.cells[6].className=left<0?'past':'';}
        setInterval(function(){body.querySelectorAll('tr[data-occurred]').forEach(tick);},60000);
        var source=new EventSource('/signals/stream');
        source.addEventListener('ready',function(){state.textContent='live';document.body.setAttribute('data-live','open');});
        source.addEventListener('waiting',function(){state.textContent='not live: the database is not answering; trying again…';
        document.body.setAttribute('data-live','closed');});
        source.onerror=function(){var stopped=source.readyState===2;
        state.textContent=stopped?'not live: reload the page (log in again if asked)':'reconnecting…';
        document.body.setAttribute('data-live','closed');};
        source.addEventListener('critical',function(m){var s=JSON.parse(m.data);
        if(body.querySelector('tr[data-signal-id="'+CSS.escape(s.signal_id)+'"]'))return;
        var none=body.querySelector('td[colspan]');if(none)none.parentNode.remove();
        var tr=document.createElement('tr');tr.className='live';tr.setAttribute('data-signal-id',s.signal_id);
        tr.setAttribute('data-occurred',s.occurred_at);if(s.deadline)tr.setAttribute('data-deadline',s.deadline);
        function cell(t,c){var td=document.createElement('td');td.textContent=t;if(c)td.className=c;tr.appendChild(td);return td;}
        cell('CRITICAL','critical');cell(s.rule);var p=cell('');
        if(s.participant_id){var a=document.createElement('a');a.href='/participants/'+encodeURIComponent(s.participant_id);
        a.textContent=s.participant_id;p.appendChild(a);}else{p.textContent='(site)';}
        cell(s.site_id);cell(s.occurred_at);cell('');cell('-');cell(s.details);tick(tr);
        var next=Array.prototype.find.call(body.rows,function(r){return r.cells[0].className!=='critical'||
        (r.getAttribute('data-occurred')||'')>s.occurred_at;});body.insertBefore(tr,next||null);});})();
        """

    static func accountability(viewer: Viewer, signals: [DashboardData.CustodySignal], sites: [String]) -> String {
        var body = """
            <p class="note">Accountability per site and lot as monitors may see it. Which lot a dose or a participant used, and a lot's
            quantities and balances, tell the arm: they are kept for unblinded roles only. Each lot the projector judges is named here by
            its anchor (the signal id of its <code>accountability_discrepancy</code>: its earliest movement, never the lot), so problems of
            one lot stay together. Deadlines (an open loss's DEA notification) are as of now; a closed loss has none.</p>
            """
        body += table(id: "custody-summary", caption: "Custody signals per site",
                      header: ["site", "lots with a discrepancy", "open", "acknowledged", "expired lot used", "undispensed lot used",
                               "inventory discrepancies", "losses"],
                      rows: sites.map { site in
                          let own = signals.filter { $0.site == site }
                          func count(_ rule: SafetyRule) -> Cell { .number(own.filter { $0.rule == rule.rawValue }.count) }
                          return [.header(site), count(.accountabilityDiscrepancy), .number(own.filter { $0.status == "open" }.count),
                                  .number(own.filter { $0.status == "acknowledged" }.count), count(.expiredLotUsed), count(.undispensedLotUsed),
                                  count(.inventoryDiscrepancy), count(.drugLoss)]
                      })
        for site in sites {
            let own = signals.filter { $0.site == site }
            body += "<h2 id=\"custody-\(e(site))\">Site \(e(site))</h2>" + table(
                id: "custody-\(site)", caption: "Custody signals at \(site), open first (UTC)",
                header: ["lot (anchor) / signal", "rule", "severity", "participant", "occurred", "status", "deadline", "details"],
                rows: own.map { s in
                    [.text(s.signalID), .text(s.rule), .text(s.severity, cls: s.severity), .text(s.participant ?? "-"), .text(s.occurredAt.utc(.minute)),
                     .text(s.status), s.notification.map { $0.overdue ? .text("PAST by \(max(-$0.hoursLeft, 1)) h", cls: "past") : .text("\($0.hoursLeft) h left") }
                        ?? .text("-"), .text(s.details)]
                })
        }
        return layout(title: "Drug accountability", viewer: viewer, body: body)
    }
}
