-- Issue 13: a data query row names the type of the queried event only when that event is the participant's own. A query
-- refused because it names another participant's event (ingest refuses those; it can archive one only when it could not
-- ask PostgreSQL) took that event's type once it arrived, though its arrival does not refresh this participant's rows:
-- the row depended on the order of the log. Rows are now rewritten only when their own inputs change (`DataQueryWriter`),
-- so the rows written before are brought to the new rule here. (Version 31 was a migration withdrawn before release;
-- this one has its own number so a database that recorded 31 still gets it.)
UPDATE monitoring.data_queries q SET event_type = NULL
WHERE q.event_type IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM audit.events e WHERE e.event_id = q.event_id AND e.participant_id = q.participant_id);
