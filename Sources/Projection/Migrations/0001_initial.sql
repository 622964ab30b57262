-- The archive, the read models monitors watch, and the projector's checkpoints.

CREATE SCHEMA audit;
CREATE SCHEMA monitoring;
CREATE SCHEMA projection;

-- Every accepted event, exactly as it stands in the log. Append-only.
CREATE TABLE audit.events (
    archive_seq     bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id        uuid PRIMARY KEY,
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    type            text NOT NULL,
    schema_version  integer NOT NULL,
    study_id        text NOT NULL,
    site_id         text NOT NULL,
    participant_id  text,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    recorded_by     text NOT NULL,
    data            jsonb NOT NULL,
    -- The canonical JSON bytes of the record value (see README, "Canonical form").
    envelope        text NOT NULL,
    UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);
CREATE INDEX events_participant_idx ON audit.events (participant_id, occurred_at);

CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a correction as a new event (event.corrected / event.voided).';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

-- A record whose event_id was already archived with different content: never applied, kept for review.
CREATE TABLE audit.rejected (
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    event_id        uuid NOT NULL,
    reason          text NOT NULL,
    envelope        text NOT NULL,
    PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
);

CREATE TABLE monitoring.participants (
    participant_id      text PRIMARY KEY,
    site_id             text NOT NULL,
    study_id            text NOT NULL,
    status              text NOT NULL,
    protocol_version    text NOT NULL,
    consented_at        timestamptz NOT NULL,
    enrolled_at         timestamptz NOT NULL,
    enrolment_event_id  uuid NOT NULL,
    doses_administered  integer NOT NULL DEFAULT 0,
    last_dose_at        timestamptz,
    baseline_phq9       integer,
    latest_phq9         integer
);
CREATE INDEX participants_site_idx ON monitoring.participants (site_id);

CREATE TABLE monitoring.doses (
    event_id        uuid PRIMARY KEY,
    participant_id  text NOT NULL,
    site_id         text NOT NULL,
    substance       text NOT NULL,
    amount          numeric NOT NULL,
    unit            text NOT NULL,
    route           text NOT NULL,
    supervised      boolean NOT NULL,
    lot             text,
    administered_by text,
    administered_at timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    recorded_by     text NOT NULL
);
CREATE INDEX doses_participant_idx ON monitoring.doses (participant_id, administered_at);

CREATE TABLE monitoring.assessments (
    event_id        uuid PRIMARY KEY,
    participant_id  text NOT NULL,
    site_id         text NOT NULL,
    instrument      text NOT NULL,
    items           integer[] NOT NULL,
    total_score     integer NOT NULL,
    assessed_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    recorded_by     text NOT NULL
);
CREATE INDEX assessments_participant_idx ON monitoring.assessments (participant_id, instrument, assessed_at);

-- Next offset to apply per partition, written in the same transaction as the rows it stands for.
CREATE TABLE projection.checkpoints (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
