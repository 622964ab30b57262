"""Turns the bench's raw results into the table and the JSON report (see scripts/bench)."""
import datetime
import json
import sys

out, machine, batch, single, ingest_peak, produce, project, copy, rebuild, fresh, amend, latency, decode = sys.argv[1:14]
batch, single, produce, project, copy, rebuild, fresh, amend, latency, decode = map(
    json.loads, (batch, single, produce, project, copy, rebuild, fresh, amend, latency, decode))
BATCH_SIZE = 500

batch_events = (batch["requests"] - batch["non_2xx"]) * BATCH_SIZE / batch["seconds"]
single_rps = (single["requests"] - single["non_2xx"]) / single["seconds"]
rows = [
    # (measure, value, unit, target, meets, reference name, ratio)
    ("ingest batch (2xx, durable)", batch_events, "events/s", ">= 50000", batch_events >= 50000,
     "raw produce", batch_events / produce["events_per_s"]),
    ("ingest single, 32 connections", single_rps, "requests/s", ">= 5000", single_rps >= 5000,
     "raw produce", single_rps / produce["events_per_s"]),
    ("ingest single p50", single["p50_ms"], "ms", "", None, "", None),
    ("ingest single p99", single["p99_ms"], "ms", "<= 20", single["p99_ms"] <= 20,
     "raw produce p99", single["p99_ms"] / latency["p99_ms"]),
    ("projector, pre-filled topic", project["events_per_s"], "events/s", ">= 30000", project["events_per_s"] >= 30000,
     "raw COPY", project["events_per_s"] / copy["events_per_s"]),
    ("projector lag at 1000 events/s (max)", fresh["max_lag"], "records", "", None, "", None),
    ("rebuild of %d events" % rebuild["events"], rebuild["seconds"], "s", "<= 60", rebuild["seconds"] <= 60,
     "raw COPY", rebuild["events_per_s"] / copy["events_per_s"]),
    ("freshness p50 at %.0f events/s" % fresh["rate_per_s"], fresh["p50_ms"], "ms", "", None, "", None),
    ("freshness p99 at %.0f events/s" % fresh["rate_per_s"], fresh["p99_ms"], "ms", "<= 100", fresh["p99_ms"] <= 100, "", None),
    ("freshness p99.9 at %.0f events/s" % fresh["rate_per_s"], fresh["p999_ms"], "ms", "", None, "", None),
    ("freshness: tables autovacuum visited in the window", fresh.get("autovacuumed_tables_in_window", -1), "tables", "", None, "", None),
    ("ingest peak RSS", max(float(ingest_peak), fresh["ingest_peak_rss_mib"]), "MiB", "<= 200",
     max(float(ingest_peak), fresh["ingest_peak_rss_mib"]) <= 200, "", None),
    ("projector peak RSS", max(project["peak_rss_mib"], fresh["projector_peak_rss_mib"]), "MiB", "<= 200",
     max(project["peak_rss_mib"], fresh["projector_peak_rss_mib"]) <= 200, "", None),
    ("rebuild (projector rebuild) peak RSS", rebuild["peak_rss_mib"], "MiB", "<= 200", rebuild["peak_rss_mib"] <= 200, "", None),
    ("amendment over %d events: time" % amend["archive_events"], amend["seconds"], "s", "", None, "", None),
    ("amendment over %d events: projector peak RSS" % amend["archive_events"], amend["peak_rss_mib"], "MiB", "<= 200",
     amend["peak_rss_mib"] <= 200, "", None),
    ("reference: raw produce (librdkafka)", produce["events_per_s"], "events/s", "", None, "", None),
    ("reference: raw COPY into audit.events", copy["events_per_s"], "events/s", "", None, "", None),
    ("reference: raw produce p99, 32 senders of one record", latency["p99_ms"], "ms", "", None, "", None),
    ("CPU per event: parse a submission", decode["parse_us"], "us", "", None, "", None),
    ("CPU per event: validate it", decode["validate_us"], "us", "", None, "", None),
    ("CPU per event: encode its canonical forms", decode["canonical_us"], "us", "", None, "", None),
    ("CPU per event: decode the stored event again (projector)", decode["stored_decode_us"], "us", "", None, "", None),
]

report = {
    "taken_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": machine,
    "results": [
        {"measure": m, "value": round(v, 3), "unit": u, "target": t or None, "meets_target": ok,
         "reference": ref or None, "ratio_to_reference": None if r is None else round(r, 4)}
        for m, v, u, t, ok, ref, r in rows
    ],
    "raw": {"ingest_batch": batch, "ingest_single": single, "raw_produce": produce, "projector": project,
            "raw_copy": copy, "raw_produce_latency": latency, "decode": decode, "rebuild": rebuild, "freshness": fresh, "amendment": amend, "ingest_peak_rss_mib": float(ingest_peak)},
}
with open(out, "w") as f:
    json.dump(report, f, indent=2)

print("\nBENCHMARK  %s  (%s, release build, dev broker)\n" % (report["taken_at"], machine))
header = ("measure", "value", "unit", "target", "", "of reference")
table = [header] + [
    (m, ("%.1f" % v) if v < 1000 else "{:,.0f}".format(v), u, t, "" if ok is None else ("ok" if ok else "MISSED"),
     "" if r is None else "%.1f %% of %s" % (100 * r, ref))
    for m, v, u, t, ok, ref, r in rows
]
widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
for i, row in enumerate(table):
    print("  ".join(str(c).rjust(widths[j]) if j == 1 else str(c).ljust(widths[j]) for j, c in enumerate(row)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
print("\nJSON: %s" % out)
