-- 0003_oauth: the HTTP device flow (SPEC E3, E4, T4).
--
-- Numbered 0003: 0002 is reserved for the key and account model. The
-- runner applies every migration it has not applied yet, in order, so the
-- gap and the order in which the two land do not matter.
--
-- Device codes and key changes belong to an endpoint and go with it.

CREATE TABLE device_codes (
	hash           BLOB    NOT NULL PRIMARY KEY,
	endpoint_id    TEXT    NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
	account_id     TEXT    NOT NULL DEFAULT '',
	key_type       TEXT    NOT NULL DEFAULT '',
	public_key     BLOB,
	key_thumbprint TEXT    NOT NULL DEFAULT '',
	interval_ns    INTEGER NOT NULL DEFAULT 0,
	issued_at      INTEGER,
	expires_at     INTEGER,
	used_at        INTEGER,
	last_poll_at   INTEGER,
	UNIQUE (endpoint_id, key_thumbprint)
) STRICT;

CREATE TABLE endpoint_key_changes (
	endpoint_id    TEXT NOT NULL PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
	account_id     TEXT NOT NULL DEFAULT '',
	key_type       TEXT NOT NULL DEFAULT '',
	public_key     BLOB,
	key_thumbprint TEXT NOT NULL DEFAULT '',
	key_id         TEXT NOT NULL DEFAULT '',
	key_value_id   TEXT NOT NULL DEFAULT '',
	requested_at   INTEGER,
	requested_from TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX endpoint_key_changes_account ON endpoint_key_changes (account_id, requested_at, endpoint_id);

-- Access tokens revoked before they expire (RFC 7009), kept until then.
CREATE TABLE revoked_access_tokens (
	jti        TEXT NOT NULL PRIMARY KEY,
	expires_at INTEGER
) STRICT;
