-- Issue 14, expedited (SUSAR) reporting: the regulator clocks of suspected unexpected serious adverse reactions.
--
-- The table holds facts only, a pure function of the log (the participant fold, `ExpeditedReporting`): one row per
-- report owed for an adverse event (the initial report; for a fatal or life-threatening SUSAR also the follow-up),
-- with day 0 (the sponsor's first knowledge: a server recorded_at), the due date and the first submission. What they
-- mean as of now (days left, overdue) is computed at read time by the view, never stored.
--
-- No arm anywhere: monitors and sponsors stay blind. A reader who needs the arm next to a report (expectedness can
-- depend on it) reads `unblinded.expedited_report_arms`, which only trial_unblinded may read.
-- What the site said of expectedness (adverse_event.reported/updated v2), NULL when it did not say (v1).
ALTER TABLE monitoring.adverse_events ADD COLUMN expected boolean;

CREATE TABLE monitoring.expedited_report_clocks (
    report_id                 text PRIMARY KEY,  -- <adverse event id>:<report>
    adverse_event_id          uuid NOT NULL,
    participant_id            text NOT NULL,
    site_id                   text NOT NULL,
    term                      text NOT NULL,
    report                    text NOT NULL CHECK (report IN ('initial', 'follow_up')),
    fatal_or_life_threatening boolean NOT NULL,
    classified_by             text NOT NULL CHECK (classified_by IN ('site', 'sponsor')),
    day_zero                  timestamptz NOT NULL,
    due                       timestamptz NOT NULL,
    submitted_at              timestamptz,
    submitted_to              text
);
CREATE INDEX expedited_report_clocks_participant_idx ON monitoring.expedited_report_clocks (participant_id);
CREATE INDEX expedited_report_clocks_owed_idx ON monitoring.expedited_report_clocks (due) WHERE submitted_at IS NULL;

-- As of now. days_left counts whole days to the due instant, rounded down (negative once overdue; as
-- `ExpeditedReporting.Clock.status`), and is NULL once the report was submitted; overdue only while it is owed;
-- submitted_late is evidence and stays true.
CREATE VIEW monitoring.expedited_reports AS
SELECT c.report_id, c.adverse_event_id, c.participant_id, c.site_id, c.term, c.report, c.fatal_or_life_threatening,
       c.classified_by, c.day_zero, c.due,
       CASE WHEN c.submitted_at IS NOT NULL THEN 'submitted' WHEN now() > c.due THEN 'overdue' ELSE 'due' END AS status,
       CASE WHEN c.submitted_at IS NULL THEN floor(extract(epoch FROM c.due - now()) / 86400)::integer END AS days_left,
       c.submitted_at IS NULL AND now() > c.due AS overdue,
       c.submitted_at, c.submitted_to,
       coalesce(c.submitted_at > c.due, false) AS submitted_late
FROM monitoring.expedited_report_clocks c;

-- The unblinded half: the arm next to each report, for the unblinded statistician / safety physician only.
CREATE VIEW unblinded.expedited_report_arms AS
SELECT c.report_id, c.adverse_event_id, c.participant_id, c.site_id, c.report, a.kit_number, a.arm
FROM monitoring.expedited_report_clocks c
LEFT JOIN unblinded.allocations a ON a.participant_id = c.participant_id;

-- The default privileges of 0005_roles cover new objects already; said here once more so this file reads alone.
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON monitoring.expedited_report_clocks TO trial_projector;
GRANT SELECT ON monitoring.expedited_report_clocks, monitoring.expedited_reports TO trial_monitor, trial_auditor;
REVOKE ALL ON unblinded.expedited_report_arms FROM trial_monitor, trial_auditor;
GRANT SELECT ON unblinded.expedited_report_arms TO trial_unblinded;

-- The fold code changed (ParticipantFold.codeVersion 5: saved states are folded again); every participant's rows are
-- computed again from the archive, so adverse events already in the log get their clocks.
INSERT INTO projection.recompute_requests (reason) VALUES ('0019_expedited_reports: SUSAR clocks in monitoring.expedited_report_clocks');
