-- Database roles: least privilege for every reader and for the projector itself.
--
--   trial_projector  writes: appends to the archive (never UPDATE, DELETE or TRUNCATE there), rewrites the read
--                    models and checkpoints. Not the owner, so it cannot drop tables or disable the append-only trigger.
--   trial_monitor    reads monitoring only (no arms: those live in unblinded, and in the archive's raw events).
--   trial_auditor    reads monitoring and audit. The archive holds every original record, including the arm in
--                    participant.randomized, because verifying the hash chain needs the exact bytes: issue it only
--                    to auditors cleared to see allocations.
--   trial_unblinded  reads unblinded only (the unblinded statistician, emergency unblinding).
--
-- The roles are NOLOGIN groups: grant them to login users (GRANT trial_monitor TO alice). Migrations run as the
-- owner of the schemas; nothing here is granted to PUBLIC.

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['trial_projector', 'trial_monitor', 'trial_auditor', 'trial_unblinded'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- roles are cluster-wide: another database's migration created it at the same moment
            END;
        END IF;
    END LOOP;
END $$;

REVOKE ALL ON SCHEMA audit, monitoring, projection, unblinded FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA audit, monitoring, projection, unblinded FROM PUBLIC;

-- The projector.
GRANT USAGE ON SCHEMA audit, monitoring, projection, unblinded TO trial_projector;
GRANT SELECT, INSERT ON audit.events, audit.rejected TO trial_projector;
GRANT SELECT, UPDATE ON audit.chain_head TO trial_projector;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA monitoring, unblinded TO trial_projector;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA projection TO trial_projector;
GRANT SELECT ON public.schema_migrations TO trial_projector;

-- Readers.
GRANT USAGE ON SCHEMA monitoring TO trial_monitor, trial_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA monitoring TO trial_monitor, trial_auditor;
GRANT USAGE ON SCHEMA audit TO trial_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO trial_auditor;
GRANT USAGE ON SCHEMA unblinded TO trial_unblinded;
GRANT SELECT ON ALL TABLES IN SCHEMA unblinded TO trial_unblinded;

-- Tables later migrations create (as the same owner) get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA monitoring GRANT SELECT ON TABLES TO trial_monitor, trial_auditor;
ALTER DEFAULT PRIVILEGES IN SCHEMA monitoring, unblinded GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO trial_projector;
ALTER DEFAULT PRIVILEGES IN SCHEMA projection GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO trial_projector;
ALTER DEFAULT PRIVILEGES IN SCHEMA audit GRANT SELECT ON TABLES TO trial_auditor;
ALTER DEFAULT PRIVILEGES IN SCHEMA unblinded GRANT SELECT ON TABLES TO trial_unblinded;
