-- Schedules anchored to each participant's Day 1 (issue 14, "Schedule"): visits and doses are due on the protocol's
-- calendar counted from the first dose, not rolled forward from the last assessment, so a missed visit stays missed
-- and an unreported missed dose lowers adherence. Both views are as of now (read time), from the protocol version in
-- force at the participant's latest event; before the first dose the calendar counts from enrolment.
ALTER TABLE monitoring.participants ADD COLUMN first_dose_at timestamptz;

DROP VIEW monitoring.overdue_assessments;
CREATE VIEW monitoring.overdue_assessments AS
WITH schedule AS (
    SELECT DISTINCT ON (v.protocol_version, s.instrument) v.protocol_version, s.instrument,
           (s.item ->> 'every_days')::integer AS every_days, (s.item ->> 'window_days')::integer AS window_days
    FROM monitoring.protocol_versions v
    CROSS JOIN LATERAL (SELECT e AS item, e ->> 'instrument' AS instrument
                        FROM jsonb_array_elements(v.rules -> 'assessment_schedule') e) s
    ORDER BY v.protocol_version, s.instrument, v.effective_from DESC
), visits AS (
    SELECT p.participant_id, p.site_id, sc.instrument, sc.window_days, k AS visit,
           coalesce(p.first_dose_at, p.enrolled_at) + make_interval(days => k * sc.every_days) AS due_at
    FROM monitoring.participants p
    JOIN schedule sc ON sc.protocol_version = p.protocol_version
    CROSS JOIN LATERAL generate_series(1, floor(extract(epoch FROM now() - coalesce(p.first_dose_at, p.enrolled_at))
                                                / 86400 / sc.every_days)::integer) k
    WHERE p.status = 'enrolled'
)
SELECT v.participant_id, v.site_id, v.instrument, v.visit, v.due_at,
       v.due_at + make_interval(days => v.window_days) AS window_closes_at,
       last.assessed_at AS last_assessed_at,
       floor(extract(epoch FROM now() - (v.due_at + make_interval(days => v.window_days))) / 86400)::integer + 1 AS days_overdue
FROM visits v
LEFT JOIN LATERAL (SELECT max(a.assessed_at) AS assessed_at FROM monitoring.assessments a
                   WHERE a.participant_id = v.participant_id AND a.instrument = v.instrument) last ON true
WHERE now() > v.due_at + make_interval(days => v.window_days)
  AND NOT EXISTS (SELECT 1 FROM monitoring.assessments a
                  WHERE a.participant_id = v.participant_id AND a.instrument = v.instrument
                    AND a.assessed_at BETWEEN v.due_at - make_interval(days => v.window_days)
                                          AND v.due_at + make_interval(days => v.window_days));

-- Doses due by the protocol's dosing calendar (dosing_schedule: dose_days of every cycle_days, from Day 1), up to
-- now or the end of participation, once each dose's window has closed; adherence is doses given over doses due,
-- so a missed dose nobody reported lowers it like a reported one. Participants of a protocol without a dosing
-- schedule have no row here (monitoring.participants.adherence_pct counts reported doses only).
CREATE VIEW monitoring.dose_adherence AS
WITH schedule AS (
    SELECT DISTINCT ON (v.protocol_version) v.protocol_version,
           (v.rules -> 'dosing_schedule' ->> 'cycle_days')::integer AS cycle_days,
           ARRAY(SELECT d::integer FROM jsonb_array_elements_text(v.rules -> 'dosing_schedule' -> 'dose_days') d) AS dose_days,
           (v.rules -> 'dosing_schedule' ->> 'window_days')::integer AS window_days
    FROM monitoring.protocol_versions v
    WHERE v.rules ? 'dosing_schedule'
    ORDER BY v.protocol_version, v.effective_from DESC
), due AS (
    SELECT p.participant_id, count(o)::integer AS doses_due
    FROM monitoring.participants p
    JOIN schedule s ON s.protocol_version = p.protocol_version
    LEFT JOIN LATERAL generate_series(0, floor(extract(epoch FROM least(now(), coalesce(p.withdrawn_at, p.completed_at, now()))
                                                                  - p.first_dose_at) / 86400)::integer) o
           ON o % s.cycle_days = ANY (s.dose_days)
          AND p.first_dose_at + make_interval(days => o + s.window_days) <= now()
    WHERE p.first_dose_at IS NOT NULL
    GROUP BY p.participant_id
)
SELECT p.participant_id, p.site_id, p.first_dose_at AS day1_at, d.doses_due, p.doses_administered, p.doses_missed AS doses_missed_reported,
       greatest(0, d.doses_due - p.doses_administered - p.doses_missed) AS doses_unreported,
       CASE WHEN d.doses_due > 0 THEN round(least(p.doses_administered, d.doses_due) * 100.0 / d.doses_due, 1) END AS adherence_pct
FROM monitoring.participants p
JOIN due d ON d.participant_id = p.participant_id;

-- A deviation a rule detected (detected_by) was reported by nobody: recorded_by is NULL for it.
ALTER TABLE monitoring.deviations ALTER COLUMN recorded_by DROP NOT NULL;

INSERT INTO projection.recompute_requests (reason)
VALUES ('0021_schedules_from_day1: participants.first_dose_at; detected deviations recorded by nobody');
