-- 0002_accounts_keys: account settings, user card/short ids, predefined keys
-- and edge-device key values (issue 3).
--
-- Append-only, like every migration. Durations are INTEGER nanoseconds;
-- 0 means "the broker's default" for lifetimes and "no limit" otherwise.

ALTER TABLE accounts ADD COLUMN device_token_ttl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN user_token_ttl   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN refresh_ttl      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN key_quota        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN endpoint_quota   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN stale_after      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN delete_stale     INTEGER NOT NULL DEFAULT 0;

-- Card and short ids compare exactly; '' means "not set" and may repeat.
ALTER TABLE users ADD COLUMN card_id  TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN short_id TEXT NOT NULL DEFAULT '';

CREATE UNIQUE INDEX users_account_card ON users (account_id, card_id) WHERE card_id <> '';
CREATE UNIQUE INDEX users_account_short ON users (account_id, short_id) WHERE short_id <> '';

ALTER TABLE api_keys ADD COLUMN predefined INTEGER NOT NULL DEFAULT 0;

-- K10: keys that run as a user are found when the user changes or goes.
CREATE INDEX api_keys_run_as_user ON api_keys (run_as_user_id) WHERE run_as_user_id <> '';

ALTER TABLE key_values ADD COLUMN edge_device TEXT NOT NULL DEFAULT '';

-- E6, E8: endpoints selected by when they were last seen.
CREATE INDEX endpoints_last_seen ON endpoints (last_seen_at);

-- Audit filters by actor and target.
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_target ON audit_events (target, id);
