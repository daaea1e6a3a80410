-- Webhooks (SPEC E7): an account's URLs, and the outbox of deliveries that
-- is also the delivery log. The signing secret is stored sealed (AES-GCM,
-- bound to the webhook's id), never in clear.
CREATE TABLE webhooks (
	id            TEXT    NOT NULL PRIMARY KEY,
	account_id    TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	url           TEXT    NOT NULL,
	events        TEXT,
	description   TEXT    NOT NULL DEFAULT '',
	sealed_secret BLOB    NOT NULL,
	created_by    TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER,
	updated_at    INTEGER
) STRICT;

CREATE INDEX webhooks_account ON webhooks (account_id, created_at, id);

CREATE TABLE webhook_deliveries (
	id              TEXT    NOT NULL PRIMARY KEY,
	webhook_id      TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	account_id      TEXT    NOT NULL DEFAULT '',
	event_type      TEXT    NOT NULL DEFAULT '',
	payload         BLOB,
	created_at      INTEGER,
	queued_at       INTEGER,
	state           TEXT    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER,
	lease_owner     TEXT    NOT NULL DEFAULT '',
	lease_until     INTEGER,
	last_attempt_at INTEGER,
	last_status     INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT '',
	delivered_at    INTEGER
) STRICT;

-- The delivery log of one webhook, newest first.
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at, id);
-- The due deliveries a worker claims.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at, id);
