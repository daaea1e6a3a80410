-- 0001_init: the registry's schema on PostgreSQL, as the SQLite store's
-- migrations 0001 to 0008 leave it (issue 14).
--
-- Migrations are append-only: once shipped a file is never edited; a change
-- is a new file with the next number. They are this store's own: the
-- SQLite store's numbers say nothing about these.
--
-- Conventions: times are BIGINT Unix nanoseconds, NULL for the zero time
-- (timestamptz keeps microseconds; the registry's times keep nanoseconds);
-- durations are BIGINT nanoseconds; lists and maps are jsonb, NULL when
-- empty; optional strings are '' rather than NULL. Lists ordered by a time
-- put NULL first, as SQLite does.

CREATE TABLE accounts (
	id                    TEXT    NOT NULL PRIMARY KEY,
	parent_id             TEXT    NOT NULL DEFAULT '',
	name                  TEXT    NOT NULL DEFAULT '',
	-- registry.AccountNameKey(name), computed in Go: unique among siblings.
	name_key              TEXT    NOT NULL DEFAULT '',
	type                  TEXT    NOT NULL DEFAULT '',
	disabled              BOOLEAN NOT NULL DEFAULT false,
	trust_all_endpoints   BOOLEAN NOT NULL DEFAULT false,
	deny_user_creation    BOOLEAN NOT NULL DEFAULT false,
	device_token_ttl      BIGINT  NOT NULL DEFAULT 0,
	user_token_ttl        BIGINT  NOT NULL DEFAULT 0,
	refresh_ttl           BIGINT  NOT NULL DEFAULT 0,
	key_quota             BIGINT  NOT NULL DEFAULT 0,
	endpoint_quota        BIGINT  NOT NULL DEFAULT 0,
	stale_after           BIGINT  NOT NULL DEFAULT 0,
	delete_stale          BOOLEAN NOT NULL DEFAULT false,
	require_endpoint_keys BOOLEAN NOT NULL DEFAULT false,
	require_dpop          BOOLEAN NOT NULL DEFAULT false,
	created_at            BIGINT,
	updated_at            BIGINT
);

CREATE INDEX accounts_parent ON accounts (parent_id);
CREATE UNIQUE INDEX accounts_parent_name_key ON accounts (parent_id, name_key) WHERE name_key <> '';
CREATE INDEX accounts_created ON accounts (created_at NULLS FIRST, id);

CREATE TABLE users (
	id            TEXT    NOT NULL PRIMARY KEY,
	account_id    TEXT    NOT NULL REFERENCES accounts (id),
	username      TEXT    NOT NULL DEFAULT '',
	domain        TEXT    NOT NULL DEFAULT '',
	upn           TEXT    NOT NULL DEFAULT '',
	email         TEXT    NOT NULL DEFAULT '',
	-- Card and short ids compare exactly; '' means "not set" and may repeat.
	card_id       TEXT    NOT NULL DEFAULT '',
	short_id      TEXT    NOT NULL DEFAULT '',
	password_hash TEXT    NOT NULL DEFAULT '',
	source        TEXT    NOT NULL DEFAULT '',
	disabled      BOOLEAN NOT NULL DEFAULT false,
	created_at    BIGINT,
	updated_at    BIGINT
);

CREATE UNIQUE INDEX users_account_name ON users (account_id, lower(username), lower(domain));
CREATE UNIQUE INDEX users_account_card ON users (account_id, card_id) WHERE card_id <> '';
CREATE UNIQUE INDEX users_account_short ON users (account_id, short_id) WHERE short_id <> '';
CREATE INDEX users_upn ON users (lower(upn));

CREATE TABLE roles (
	id          TEXT    NOT NULL PRIMARY KEY,
	account_id  TEXT    NOT NULL DEFAULT '',
	name        TEXT    NOT NULL DEFAULT '',
	permissions JSONB,
	built_in    BOOLEAN NOT NULL DEFAULT false,
	created_at  BIGINT
);

CREATE TABLE grants (
	user_id    TEXT NOT NULL REFERENCES users (id),
	role_id    TEXT NOT NULL REFERENCES roles (id),
	account_id TEXT NOT NULL REFERENCES accounts (id),
	created_at BIGINT,
	PRIMARY KEY (user_id, role_id, account_id)
);

CREATE INDEX grants_role ON grants (role_id);
CREATE INDEX grants_account ON grants (account_id);

CREATE TABLE api_keys (
	id                        TEXT    NOT NULL PRIMARY KEY,
	account_id                TEXT    NOT NULL REFERENCES accounts (id),
	type                      TEXT    NOT NULL DEFAULT '',
	name                      TEXT    NOT NULL DEFAULT '',
	description               TEXT    NOT NULL DEFAULT '',
	key_group                 TEXT    NOT NULL DEFAULT '',
	active                    BOOLEAN NOT NULL DEFAULT false,
	allow_unauthenticated     BOOLEAN NOT NULL DEFAULT false,
	allow_untrusted_endpoints BOOLEAN NOT NULL DEFAULT false,
	auto_trust                BOOLEAN NOT NULL DEFAULT false,
	full_api_access           BOOLEAN NOT NULL DEFAULT false,
	predefined                BOOLEAN NOT NULL DEFAULT false,
	expires_at                BIGINT,
	allowed_ips               JSONB,
	run_as_user_id            TEXT    NOT NULL DEFAULT '',
	run_as_role_id            TEXT    NOT NULL DEFAULT '',
	created_by                TEXT    NOT NULL DEFAULT '',
	created_at                BIGINT,
	updated_at                BIGINT
);

CREATE INDEX api_keys_account ON api_keys (account_id, created_at NULLS FIRST, id);
-- K10: keys that run as a user are found when the user changes or goes.
CREATE INDEX api_keys_run_as_user ON api_keys (run_as_user_id) WHERE run_as_user_id <> '';

CREATE TABLE key_values (
	id             TEXT   NOT NULL PRIMARY KEY,
	key_id         TEXT   NOT NULL REFERENCES api_keys (id),
	public_id      TEXT   NOT NULL UNIQUE,
	secret_hash    BYTEA,
	description    TEXT   NOT NULL DEFAULT '',
	edge_device    TEXT   NOT NULL DEFAULT '',
	created_at     BIGINT,
	expires_at     BIGINT,
	revoked_at     BIGINT,
	last_used_at   BIGINT,
	last_used_from TEXT   NOT NULL DEFAULT '',
	use_count      BIGINT NOT NULL DEFAULT 0,
	use_limit      BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX key_values_key ON key_values (key_id);

-- Issue 12, point 5: what is kept of a value whose key was deleted (never
-- the secret's hash), so that it is refused as "key deleted".
CREATE TABLE deleted_key_values (
	public_id  TEXT NOT NULL PRIMARY KEY,
	key_id     TEXT NOT NULL,
	account_id TEXT NOT NULL
);

CREATE TABLE endpoints (
	id                     TEXT   NOT NULL PRIMARY KEY, -- the device's client_id
	account_id             TEXT   NOT NULL REFERENCES accounts (id),
	state                  TEXT   NOT NULL,
	type                   TEXT   NOT NULL DEFAULT '',
	description            TEXT   NOT NULL DEFAULT '',
	hostname               TEXT   NOT NULL DEFAULT '',
	os                     TEXT   NOT NULL DEFAULT '',
	version                TEXT   NOT NULL DEFAULT '',
	key_type               TEXT   NOT NULL DEFAULT '',
	public_key             BYTEA,
	key_thumbprint         TEXT   NOT NULL DEFAULT '',
	key_id                 TEXT   NOT NULL DEFAULT '',
	key_value_id           TEXT   NOT NULL DEFAULT '',
	registered_at          BIGINT,
	registered_from        TEXT   NOT NULL DEFAULT '',
	approved_by            TEXT   NOT NULL DEFAULT '',
	approved_at            BIGINT,
	last_decision          TEXT   NOT NULL DEFAULT '',
	last_decision_by       TEXT   NOT NULL DEFAULT '',
	last_decision_at       BIGINT,
	last_seen_at           BIGINT,
	last_seen_from         TEXT   NOT NULL DEFAULT '',
	device_code_hash       BYTEA,
	device_code_expires_at BIGINT,
	updated_at             BIGINT
);

CREATE INDEX endpoints_state ON endpoints (state);
CREATE INDEX endpoints_account ON endpoints (account_id);
CREATE INDEX endpoints_key ON endpoints (key_id);
CREATE INDEX endpoints_registered ON endpoints (registered_at NULLS FIRST, id);
-- E6, E8: endpoints selected by when they were last seen.
CREATE INDEX endpoints_last_seen ON endpoints (last_seen_at);

CREATE TABLE refresh_tokens (
	id           TEXT   NOT NULL PRIMARY KEY,
	hash         BYTEA  NOT NULL UNIQUE,
	chain_id     TEXT   NOT NULL DEFAULT '',
	subject_type TEXT   NOT NULL DEFAULT '',
	subject_id   TEXT   NOT NULL DEFAULT '',
	account_id   TEXT   NOT NULL DEFAULT '',
	endpoint_id  TEXT   NOT NULL DEFAULT '',
	issued_at    BIGINT,
	expires_at   BIGINT,
	used_at      BIGINT,
	revoked_at   BIGINT
);

CREATE INDEX refresh_tokens_chain_revoked ON refresh_tokens (chain_id, revoked_at);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject_type, subject_id);
CREATE INDEX refresh_tokens_endpoint ON refresh_tokens (endpoint_id);

-- The audit log. Its id is also the change cursor: ids are handed out
-- only by Updates, under the lock every Update holds to its commit, from
-- a sequence without a cache, so they increase in commit order (see the
-- package doc).
CREATE TABLE audit_events (
	id         BIGINT GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
	time       BIGINT,
	actor      TEXT   NOT NULL DEFAULT '',
	action     TEXT   NOT NULL DEFAULT '',
	account_id TEXT   NOT NULL DEFAULT '',
	target     TEXT   NOT NULL DEFAULT '',
	outcome    TEXT   NOT NULL DEFAULT '',
	remote     TEXT   NOT NULL DEFAULT '',
	detail     JSONB
);

CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_target ON audit_events (target, id);

CREATE TABLE meta (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
);

-- The HTTP device flow (SPEC E3, E4, T4). Device codes and key changes
-- belong to an endpoint and go with it.
CREATE TABLE device_codes (
	hash           BYTEA  NOT NULL PRIMARY KEY,
	endpoint_id    TEXT   NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
	account_id     TEXT   NOT NULL DEFAULT '',
	key_type       TEXT   NOT NULL DEFAULT '',
	public_key     BYTEA,
	key_thumbprint TEXT   NOT NULL DEFAULT '',
	interval_ns    BIGINT NOT NULL DEFAULT 0,
	issued_at      BIGINT,
	expires_at     BIGINT,
	used_at        BIGINT,
	last_poll_at   BIGINT,
	UNIQUE (endpoint_id, key_thumbprint)
);

CREATE TABLE endpoint_key_changes (
	endpoint_id    TEXT NOT NULL PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
	account_id     TEXT NOT NULL DEFAULT '',
	key_type       TEXT NOT NULL DEFAULT '',
	public_key     BYTEA,
	key_thumbprint TEXT NOT NULL DEFAULT '',
	key_id         TEXT NOT NULL DEFAULT '',
	key_value_id   TEXT NOT NULL DEFAULT '',
	description    TEXT NOT NULL DEFAULT '',
	hostname       TEXT NOT NULL DEFAULT '',
	os             TEXT NOT NULL DEFAULT '',
	version        TEXT NOT NULL DEFAULT '',
	requested_at   BIGINT,
	requested_from TEXT NOT NULL DEFAULT ''
);

CREATE INDEX endpoint_key_changes_account ON endpoint_key_changes (account_id, requested_at, endpoint_id);

-- Access tokens revoked before they expire (RFC 7009), kept until then.
CREATE TABLE revoked_access_tokens (
	jti        TEXT NOT NULL PRIMARY KEY,
	expires_at BIGINT
);

-- DPoP proofs seen (RFC 9449): each is accepted once, across every broker
-- sharing this database.
CREATE TABLE dpop_proofs (
	id         TEXT NOT NULL PRIMARY KEY,
	expires_at BIGINT
);

CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires_at);
