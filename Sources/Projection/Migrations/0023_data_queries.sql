-- Data queries and a read API for sites (issue 15).
--
--   monitoring.data_queries  one row per query (query_id: the event_id of its query.raised): facts only, from the pure
--                            DataQueries fold of the participant's query events (status, who answered and closed when,
--                            the correction named, reopenings, why a raise was refused)
--   monitoring.query_steps   every query event, applied or refused (refusal says why: an answer to an unknown or closed
--                            query, a close of a query never answered, ...), as monitoring.corrections shows changes
--   monitoring.queries       the view monitors read: the facts plus their age as of now (never stored)
--   monitoring.sites         gains open_queries (open or answered) and their median age in days, as of now (the
--                            former view, unchanged, is monitoring.site_counts)
--   audit.event_references   what ingest may know of an archived event a query names: its participant, type and, for a
--                            correction or void, the event it changes (never data)
--   site_api.*, trial_site   what a site's coordinator reads through ingest: views of the blinded read models limited to
--                            the one site the transaction names (set_config('trial.site', ..., true)); trial_site reads
--                            these views and nothing else: not monitoring, not unblinded, not audit

CREATE TABLE monitoring.data_queries (
    query_id            uuid PRIMARY KEY,
    participant_id      text NOT NULL,
    site_id             text NOT NULL,
    event_id            uuid NOT NULL,
    event_type          text,
    pointer             text NOT NULL,
    question            text NOT NULL,
    raised_by           text NOT NULL,
    raised_at           timestamptz NOT NULL,
    status              text NOT NULL CHECK (status IN ('open', 'answered', 'closed', 'refused')),
    opened_at           timestamptz NOT NULL,
    answer              text,
    answered_by         text,
    answered_at         timestamptz,
    correction_event_id uuid,
    closed_by           text,
    closed_at           timestamptz,
    reopenings          integer NOT NULL,
    reopen_reason       text,
    refusal             text
);
CREATE INDEX data_queries_participant_idx ON monitoring.data_queries (participant_id);
CREATE INDEX data_queries_site_idx ON monitoring.data_queries (site_id, status);

-- Every batch looks up the query steps of the participants it touched: a small index of those events only, so the
-- look-up costs one probe per participant however long their history (same list as DataQueryWriter.steps).
CREATE INDEX events_query_steps_idx ON audit.events (participant_id)
    WHERE type IN ('query.raised', 'query.answered', 'query.closed', 'query.reopened');

CREATE TABLE monitoring.query_steps (
    event_id            uuid PRIMARY KEY,
    query_id            uuid NOT NULL,
    participant_id      text NOT NULL,
    site_id             text NOT NULL,
    action              text NOT NULL CHECK (action IN ('raised', 'answered', 'closed', 'reopened')),
    text                text,
    correction_event_id uuid,
    recorded_by         text NOT NULL,
    recorded_at         timestamptz NOT NULL,
    refusal             text
);
CREATE INDEX query_steps_participant_idx ON monitoring.query_steps (participant_id);

-- Age in days: while not closed, from raising to now; once closed, from raising to the close. open_days: how long the
-- site has had it since it last became open (NULL unless open).
CREATE VIEW monitoring.queries AS
SELECT q.query_id, q.participant_id, q.site_id, q.event_id, q.event_type, q.pointer, q.question, q.raised_by, q.raised_at,
       q.status, q.reopenings > 0 AS reopened, q.opened_at, q.answer, q.answered_by, q.answered_at, q.correction_event_id,
       q.closed_by, q.closed_at, q.reopenings, q.reopen_reason, q.refusal,
       round((extract(epoch FROM coalesce(q.closed_at, now()) - q.raised_at) / 86400)::numeric, 1) AS age_days,
       CASE WHEN q.status = 'open' THEN round((extract(epoch FROM now() - q.opened_at) / 86400)::numeric, 1) END AS open_days
FROM monitoring.data_queries q;

-- The sites overview as it was, plus the queries waiting for someone (open or answered) and their median age as of now.
ALTER VIEW monitoring.sites RENAME TO site_counts;
CREATE VIEW monitoring.sites AS
SELECT c.*,
       (SELECT count(*) FROM monitoring.data_queries q WHERE q.site_id = c.site_id AND q.status IN ('open', 'answered'))
           AS open_queries,
       (SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM now() - q.raised_at)) / 86400)::numeric, 1)
        FROM monitoring.data_queries q WHERE q.site_id = c.site_id AND q.status IN ('open', 'answered')) AS open_query_median_age_days
FROM monitoring.site_counts c;

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON monitoring.data_queries, monitoring.query_steps TO trial_projector;
GRANT SELECT ON monitoring.data_queries, monitoring.query_steps, monitoring.queries, monitoring.sites TO trial_monitor, trial_auditor;

CREATE VIEW audit.event_references AS
SELECT event_id, participant_id, type,
       CASE type WHEN 'event.corrected' THEN (data ->> 'corrected_event_id')::uuid
                 WHEN 'event.voided' THEN (data ->> 'voided_event_id')::uuid END AS changed_event_id
FROM audit.events;
REVOKE ALL ON audit.event_references FROM PUBLIC;
GRANT SELECT ON audit.event_references TO trial_ingest, trial_auditor, trial_projector;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trial_site') THEN
        BEGIN
            CREATE ROLE trial_site NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- roles are cluster-wide: another database's migration created it at the same moment
        END;
    END IF;
END $$;

CREATE SCHEMA site_api;
REVOKE ALL ON SCHEMA site_api FROM PUBLIC;

-- Every view keeps only the site the transaction names; without one (NULL), nothing. security_barrier: the filter runs
-- before any condition a caller adds, so no function of theirs sees another site's rows.
CREATE VIEW site_api.participants WITH (security_barrier) AS
SELECT participant_id, site_id, status, protocol_version, screened_at, consented_at, enrolled_at, first_dose_at, last_dose_at,
       withdrawn_at, withdrawal_reason, completed_at, doses_administered, doses_missed, adherence_pct, open_signals
FROM monitoring.participants WHERE site_id = current_setting('trial.site', true);

CREATE VIEW site_api.overdue_assessments WITH (security_barrier) AS
SELECT participant_id, instrument, visit, due_at, window_closes_at, last_assessed_at, days_overdue
FROM monitoring.overdue_assessments WHERE site_id = current_setting('trial.site', true);

CREATE VIEW site_api.dose_adherence WITH (security_barrier) AS
SELECT participant_id, day1_at, doses_due, doses_administered, doses_missed_reported, doses_unreported, adherence_pct
FROM monitoring.dose_adherence WHERE site_id = current_setting('trial.site', true);

CREATE VIEW site_api.open_signals WITH (security_barrier) AS
SELECT signal_id, participant_id, rule, severity, trigger_event_id, trigger_occurred_at, details, deadline
FROM monitoring.safety_signals WHERE status = 'open' AND participant_id IS NOT NULL AND site_id = current_setting('trial.site', true);

CREATE VIEW site_api.queries WITH (security_barrier) AS
SELECT query_id, participant_id, event_id, event_type, pointer, question, raised_by, raised_at, status, reopened, opened_at,
       answer, answered_by, answered_at, correction_event_id, closed_by, closed_at, reopenings, reopen_reason, age_days, open_days
FROM monitoring.queries WHERE status <> 'refused' AND site_id = current_setting('trial.site', true);

GRANT USAGE ON SCHEMA site_api TO trial_site;
GRANT SELECT ON ALL TABLES IN SCHEMA site_api TO trial_site;

INSERT INTO projection.recompute_requests (reason) VALUES ('0023_data_queries: monitoring.data_queries and query_steps');
