-- Reads of unblinded data are themselves recorded: who (the database login, a person, never the role it acts as),
-- when (the server's clock), which participant, through which command, and why when they say. Append-only, like the
-- archive; auditors read it (the audit schema's default grants). Not derived from the log: a rebuild leaves it alone.
CREATE TABLE audit.unblinded_access (
    access_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    accessed_at    timestamptz NOT NULL DEFAULT now(),
    accessed_by    text NOT NULL DEFAULT session_user,
    participant_id text NOT NULL,
    command        text NOT NULL,
    reason         text
);
CREATE INDEX unblinded_access_participant_idx ON audit.unblinded_access (participant_id, accessed_at);

CREATE FUNCTION audit.refuse_access_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.unblinded_access is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER unblinded_access_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.unblinded_access
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_access_log_change();

-- Whoever reads unblinded data writes the record of it first, and only the columns that are theirs to say: the time
-- and the login come from the server.
GRANT USAGE ON SCHEMA audit TO trial_unblinded;
GRANT INSERT (participant_id, command, reason) ON audit.unblinded_access TO trial_unblinded;
