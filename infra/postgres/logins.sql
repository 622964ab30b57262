-- Production logins, one per service, each a member of the NOLOGIN group role the migrations grant rights to
-- (README: Database roles). Run as a superuser with psql 15 or newer, before the first `projector migrate`:
--
--   TRIAL_OWNER_PASSWORD=… TRIAL_PROJECTOR_PASSWORD=… TRIAL_INGEST_PASSWORD=… TRIAL_REPORTER_WATCH_PASSWORD=… \
--   TRIAL_AUDIT_VERIFY_PASSWORD=… psql -v ON_ERROR_STOP=1 -d postgres -f infra/postgres/logins.sql
--
-- Passwords come from the environment, filled from the secret store by whoever runs this; they are never in this
-- repository. Prefer SCRAM-SHA-256 verifiers ("SCRAM-SHA-256$4096:…", what pg_authid stores) over plain text: the
-- server then never sees the password itself. Running it again rotates the passwords and changes nothing else.
--
--   login            member of         used by (variable)
--   trial_owner      (owns database)   `projector migrate` only (DATABASE_URL): a deployment credential, not a service's
--   projector        trial_projector   `projector run`, `lag`, `rebuild` (PROJECTOR_DATABASE_URL)
--   ingest           trial_ingest,     ingest's event_id and query reference checks, and the site read API
--                    trial_site        (INGEST_DATABASE_URL)
--   reporter_watch   trial_monitor     `reporter watch` (MONITOR_DATABASE_URL)
--   audit_verify     trial_auditor     the scheduled `reporter audit verify` (AUDITOR_DATABASE_URL)
--
-- People get their own logins (never a shared one), granted the role of their job, e.g.:
--   CREATE ROLE alice LOGIN PASSWORD '…' VALID UNTIL '2027-06-30'; GRANT trial_monitor TO alice;
-- trial_auditor only to auditors cleared to see allocations (the archive holds the arms); trial_unblinded only to the
-- unblinded pharmacist and statistician.

\set ON_ERROR_STOP on
-- Keep the passwords out of the server log whatever log_statement says.
SET log_statement = 'none';

\getenv owner_password TRIAL_OWNER_PASSWORD
\getenv projector_password TRIAL_PROJECTOR_PASSWORD
\getenv ingest_password TRIAL_INGEST_PASSWORD
\getenv reporter_watch_password TRIAL_REPORTER_WATCH_PASSWORD
\getenv audit_verify_password TRIAL_AUDIT_VERIFY_PASSWORD
\if :{?owner_password} \else DO $$ BEGIN RAISE EXCEPTION 'TRIAL_OWNER_PASSWORD is not set'; END $$; \endif
\if :{?projector_password} \else DO $$ BEGIN RAISE EXCEPTION 'TRIAL_PROJECTOR_PASSWORD is not set'; END $$; \endif
\if :{?ingest_password} \else DO $$ BEGIN RAISE EXCEPTION 'TRIAL_INGEST_PASSWORD is not set'; END $$; \endif
\if :{?reporter_watch_password} \else DO $$ BEGIN RAISE EXCEPTION 'TRIAL_REPORTER_WATCH_PASSWORD is not set'; END $$; \endif
\if :{?audit_verify_password} \else DO $$ BEGIN RAISE EXCEPTION 'TRIAL_AUDIT_VERIFY_PASSWORD is not set'; END $$; \endif

-- The group roles (the migrations create them too, when missing): created here so logins can join them first.
SELECT format('CREATE ROLE %I NOLOGIN', name)
FROM unnest(ARRAY['trial_projector', 'trial_monitor', 'trial_auditor', 'trial_unblinded', 'trial_ingest', 'trial_site']) AS name
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) \gexec

SELECT format('CREATE ROLE %I LOGIN', name)
FROM unnest(ARRAY['trial_owner', 'projector', 'ingest', 'reporter_watch', 'audit_verify']) AS name
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) \gexec

-- NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS: none of them needs more than its group's grants.
ALTER ROLE trial_owner    LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5  PASSWORD :'owner_password';
ALTER ROLE projector      LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 40 PASSWORD :'projector_password';
ALTER ROLE ingest         LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 40 PASSWORD :'ingest_password';
ALTER ROLE reporter_watch LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5  PASSWORD :'reporter_watch_password';
ALTER ROLE audit_verify   LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5  PASSWORD :'audit_verify_password';

GRANT trial_projector TO projector;
GRANT trial_ingest TO ingest;
-- ingest's site read API (issue 15) reads as trial_site through the same login.
GRANT trial_site TO ingest;
GRANT trial_monitor TO reporter_watch;
GRANT trial_auditor TO audit_verify;

-- The database, owned by the schema owner; nobody else may connect unless granted a role.
SELECT 'CREATE DATABASE trial OWNER trial_owner ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'trial') \gexec
REVOKE ALL ON DATABASE trial FROM PUBLIC;
GRANT CONNECT ON DATABASE trial TO trial_projector, trial_monitor, trial_auditor, trial_unblinded, trial_ingest, trial_site;
