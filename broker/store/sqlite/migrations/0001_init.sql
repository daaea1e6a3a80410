-- 0001_init: the registry's first schema.
--
-- Migrations are append-only: once shipped a file is never edited; a change
-- is a new file with the next number.
--
-- Conventions: times are INTEGER Unix nanoseconds, NULL for the zero time;
-- booleans are INTEGER 0/1; lists and maps are JSON text, NULL when empty;
-- optional strings are '' rather than NULL.

CREATE TABLE accounts (
	id                  TEXT    NOT NULL PRIMARY KEY,
	parent_id           TEXT    NOT NULL DEFAULT '',
	name                TEXT    NOT NULL DEFAULT '',
	type                TEXT    NOT NULL DEFAULT '',
	disabled            INTEGER NOT NULL DEFAULT 0,
	trust_all_endpoints INTEGER NOT NULL DEFAULT 0,
	deny_user_creation  INTEGER NOT NULL DEFAULT 0,
	created_at          INTEGER,
	updated_at          INTEGER
) STRICT;

CREATE INDEX accounts_parent ON accounts (parent_id);

CREATE TABLE users (
	id            TEXT    NOT NULL PRIMARY KEY,
	account_id    TEXT    NOT NULL REFERENCES accounts (id),
	username      TEXT    NOT NULL DEFAULT '',
	domain        TEXT    NOT NULL DEFAULT '',
	upn           TEXT    NOT NULL DEFAULT '',
	email         TEXT    NOT NULL DEFAULT '',
	password_hash TEXT    NOT NULL DEFAULT '',
	source        TEXT    NOT NULL DEFAULT '',
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER,
	updated_at    INTEGER
) STRICT;

CREATE UNIQUE INDEX users_account_name ON users (account_id, lower(username), lower(domain));
CREATE INDEX users_upn ON users (lower(upn));

CREATE TABLE roles (
	id          TEXT    NOT NULL PRIMARY KEY,
	account_id  TEXT    NOT NULL DEFAULT '',
	name        TEXT    NOT NULL DEFAULT '',
	permissions TEXT,
	built_in    INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER
) STRICT;

CREATE TABLE grants (
	user_id    TEXT NOT NULL REFERENCES users (id),
	role_id    TEXT NOT NULL REFERENCES roles (id),
	account_id TEXT NOT NULL REFERENCES accounts (id),
	created_at INTEGER,
	PRIMARY KEY (user_id, role_id, account_id)
) STRICT;

CREATE INDEX grants_role ON grants (role_id);
CREATE INDEX grants_account ON grants (account_id);

CREATE TABLE api_keys (
	id                        TEXT    NOT NULL PRIMARY KEY,
	account_id                TEXT    NOT NULL REFERENCES accounts (id),
	type                      TEXT    NOT NULL DEFAULT '',
	name                      TEXT    NOT NULL DEFAULT '',
	description               TEXT    NOT NULL DEFAULT '',
	key_group                 TEXT    NOT NULL DEFAULT '',
	active                    INTEGER NOT NULL DEFAULT 0,
	allow_unauthenticated     INTEGER NOT NULL DEFAULT 0,
	allow_untrusted_endpoints INTEGER NOT NULL DEFAULT 0,
	auto_trust                INTEGER NOT NULL DEFAULT 0,
	full_api_access           INTEGER NOT NULL DEFAULT 0,
	expires_at                INTEGER,
	allowed_ips               TEXT,
	run_as_user_id            TEXT    NOT NULL DEFAULT '',
	run_as_role_id            TEXT    NOT NULL DEFAULT '',
	created_by                TEXT    NOT NULL DEFAULT '',
	created_at                INTEGER,
	updated_at                INTEGER
) STRICT;

CREATE INDEX api_keys_account ON api_keys (account_id, created_at, id);

CREATE TABLE key_values (
	id             TEXT    NOT NULL PRIMARY KEY,
	key_id         TEXT    NOT NULL REFERENCES api_keys (id),
	public_id      TEXT    NOT NULL UNIQUE,
	secret_hash    BLOB,
	description    TEXT    NOT NULL DEFAULT '',
	created_at     INTEGER,
	expires_at     INTEGER,
	revoked_at     INTEGER,
	last_used_at   INTEGER,
	last_used_from TEXT    NOT NULL DEFAULT '',
	use_count      INTEGER NOT NULL DEFAULT 0,
	use_limit      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX key_values_key ON key_values (key_id);

CREATE TABLE endpoints (
	id                     TEXT    NOT NULL PRIMARY KEY, -- the device's client_id
	account_id             TEXT    NOT NULL REFERENCES accounts (id),
	state                  TEXT    NOT NULL,
	type                   TEXT    NOT NULL DEFAULT '',
	description            TEXT    NOT NULL DEFAULT '',
	hostname               TEXT    NOT NULL DEFAULT '',
	os                     TEXT    NOT NULL DEFAULT '',
	version                TEXT    NOT NULL DEFAULT '',
	key_type               TEXT    NOT NULL DEFAULT '',
	public_key             BLOB,
	key_thumbprint         TEXT    NOT NULL DEFAULT '',
	key_id                 TEXT    NOT NULL DEFAULT '',
	key_value_id           TEXT    NOT NULL DEFAULT '',
	registered_at          INTEGER,
	registered_from        TEXT    NOT NULL DEFAULT '',
	decided_by             TEXT    NOT NULL DEFAULT '',
	decided_at             INTEGER,
	last_seen_at           INTEGER,
	last_seen_from         TEXT    NOT NULL DEFAULT '',
	device_code_hash       BLOB,
	device_code_expires_at INTEGER,
	updated_at             INTEGER
) STRICT;

CREATE INDEX endpoints_state ON endpoints (state);
CREATE INDEX endpoints_account ON endpoints (account_id);
CREATE INDEX endpoints_key ON endpoints (key_id);
CREATE INDEX endpoints_registered ON endpoints (registered_at, id);

CREATE TABLE refresh_tokens (
	id           TEXT    NOT NULL PRIMARY KEY,
	hash         BLOB    NOT NULL UNIQUE,
	chain_id     TEXT    NOT NULL DEFAULT '',
	subject_type TEXT    NOT NULL DEFAULT '',
	subject_id   TEXT    NOT NULL DEFAULT '',
	account_id   TEXT    NOT NULL DEFAULT '',
	endpoint_id  TEXT    NOT NULL DEFAULT '',
	issued_at    INTEGER,
	expires_at   INTEGER,
	used_at      INTEGER,
	revoked_at   INTEGER
) STRICT;

CREATE INDEX refresh_tokens_chain ON refresh_tokens (chain_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject_type, subject_id);
CREATE INDEX refresh_tokens_endpoint ON refresh_tokens (endpoint_id);

CREATE TABLE audit_events (
	id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	time       INTEGER,
	actor      TEXT    NOT NULL DEFAULT '',
	action     TEXT    NOT NULL DEFAULT '',
	account_id TEXT    NOT NULL DEFAULT '',
	target     TEXT    NOT NULL DEFAULT '',
	outcome    TEXT    NOT NULL DEFAULT '',
	remote     TEXT    NOT NULL DEFAULT '',
	detail     TEXT
) STRICT;

CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_time ON audit_events (time);

CREATE TABLE meta (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
