-- Issue 14's review: a site's calendar days (a lot's expiry, the DEA's next business day) are counted in the site's own
-- time zone, named by `site.activated` v2, not in whatever zone a sender wrote an instant in; and the
-- accountability_discrepancy signal no longer names the lot (which tells the arm).

-- What each site's latest site.activated says. Blinded: nothing here tells an arm.
CREATE TABLE monitoring.site_profiles (
    site_id                 text PRIMARY KEY,
    site_name               text NOT NULL,
    country                 text NOT NULL,
    principal_investigator  text NOT NULL,
    protocol_version        text NOT NULL,
    -- IANA region name (e.g. Europe/Berlin); NULL from a v1 activation (days then follow each instant's written zone).
    time_zone               text,
    activated_event_id      uuid NOT NULL,
    activated_at            timestamptz NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON monitoring.site_profiles TO trial_projector;
GRANT SELECT ON monitoring.site_profiles TO trial_monitor, trial_auditor;

-- A lot's anchor movement (its earliest of the site's own, usually the receipt; else its earliest) names its
-- discrepancy signal instead of the lot: `accountability_discrepancy:<event_id>` of a site movement, or a digest when
-- only participants' movements could (`discrepancy_signal_id` keeps the name, so the row's signal goes with it). The
-- signals named after lots go now: the recompute below gives them their new names (an acknowledgement of an old name
-- does not carry over: it would let a monitor test a guessed lot against the signals).
ALTER TABLE unblinded.drug_accountability
    ADD COLUMN signal_anchor_at         timestamptz,
    ADD COLUMN signal_anchor_event_id   uuid,
    ADD COLUMN signal_anchor_site_level boolean,
    ADD COLUMN discrepancy_signal_id    text,
    -- The latest movement was what the signal pointed at (0012); the anchor is now, so it goes.
    DROP COLUMN last_movement_at,
    DROP COLUMN last_movement_event_id;
DELETE FROM monitoring.safety_signals WHERE rule = 'accountability_discrepancy';

INSERT INTO projection.recompute_requests (reason)
VALUES ('0024_site_calendars: site time zones, custody judged on site days, opaque accountability signal names');
