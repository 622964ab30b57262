-- Issue 14: the SAE clock and the suicidality / symptom rules.
--
-- Lateness is evidence: `reported_late` says the sponsor was (or is being) told after the 24 h deadline, and stays
-- true after the signal is acknowledged (past_deadline only speaks of open signals). The acknowledgement time is the
-- server's recorded_at of the signal.acknowledged (the fold), never the client's occurred_at. Computed as of now.
CREATE OR REPLACE VIEW monitoring.sae_deadlines AS
SELECT g.signal_id, g.participant_id, g.site_id, g.trigger_event_id AS adverse_event_id, g.deadline, g.status,
       g.status = 'open' AND now() > g.deadline AS past_deadline,
       round(extract(epoch FROM g.deadline - now()) / 3600, 1) AS hours_left,
       g.acknowledged_at,
       coalesce(g.acknowledged_at, now()) > g.deadline AS reported_late
FROM monitoring.safety_signals g
WHERE g.rule = 'serious_adverse_event' AND g.status <> 'resolved';

-- The rules changed (SAE clock from the upgrade, downgrades resolve, acknowledgement times, C-SSRS triage, QIDS-SR16
-- item 12, per-instrument worsening): every participant's rows are computed again from the archive.
INSERT INTO projection.recompute_requests (reason) VALUES ('0016_safety_rules_sae_clock: safety rules of issue 14');
