-- 0013_cache_generation: issue 17, point 1 (logins served from memory).
--
-- A broker keeps the accounts, keys and key values, users, grants and
-- endpoint states its logins read in memory, valid for one value of the
-- meta row 'cache_generation'. Every write that could change what a login
-- decides sets that row to a new random value, in the writing transaction
-- (so a write rolled back takes its new value with it, and a value is
-- never reused); each login reads the row (one primary-key read) and uses
-- its memory only while the value is the one it was filled under. That
-- keeps SPEC K4 on every broker sharing the store: a regenerated or
-- revoked key value changes the generation in the transaction that
-- changes the value.
--
-- Not counted: the last-use columns of key values and endpoints (written by
-- logins themselves, at most once a minute each), an endpoint's updated_at
-- alone (a re-registration that changes nothing else) and new endpoints (a
-- login reaches an endpoint only through a token or a connection its
-- registration answered, after the registration's commit).
INSERT INTO meta (key, value) VALUES ('cache_generation', lower(hex(randomblob(8))))
	ON CONFLICT (key) DO UPDATE SET value = excluded.value;

CREATE TRIGGER accounts_cache_insert AFTER INSERT ON accounts BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER accounts_cache_update AFTER UPDATE ON accounts BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER accounts_cache_delete AFTER DELETE ON accounts BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER users_cache_insert AFTER INSERT ON users BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER users_cache_update AFTER UPDATE ON users BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER users_cache_delete AFTER DELETE ON users BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER roles_cache_insert AFTER INSERT ON roles BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER roles_cache_update AFTER UPDATE ON roles BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER roles_cache_delete AFTER DELETE ON roles BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER grants_cache_insert AFTER INSERT ON grants BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER grants_cache_update AFTER UPDATE ON grants BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER grants_cache_delete AFTER DELETE ON grants BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER api_keys_cache_insert AFTER INSERT ON api_keys BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER api_keys_cache_update AFTER UPDATE ON api_keys BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER api_keys_cache_delete AFTER DELETE ON api_keys BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER key_values_cache_insert AFTER INSERT ON key_values BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER key_values_cache_update AFTER UPDATE OF id, key_id, public_id, secret_hash, description, created_at, expires_at, revoked_at, use_count, use_limit, edge_device ON key_values BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER key_values_cache_delete AFTER DELETE ON key_values BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

-- An endpoint's update counts when a column other than its last sighting
-- and updated_at takes another value: a re-registration that changes
-- nothing else (every reconnect of an agent) leaves the generation.
CREATE TRIGGER endpoints_cache_update AFTER UPDATE ON endpoints
	WHEN OLD.id IS NOT NEW.id
	 OR OLD.account_id IS NOT NEW.account_id
	 OR OLD.state IS NOT NEW.state
	 OR OLD.type IS NOT NEW.type
	 OR OLD.description IS NOT NEW.description
	 OR OLD.hostname IS NOT NEW.hostname
	 OR OLD.os IS NOT NEW.os
	 OR OLD.version IS NOT NEW.version
	 OR OLD.key_type IS NOT NEW.key_type
	 OR OLD.public_key IS NOT NEW.public_key
	 OR OLD.key_thumbprint IS NOT NEW.key_thumbprint
	 OR OLD.key_id IS NOT NEW.key_id
	 OR OLD.key_value_id IS NOT NEW.key_value_id
	 OR OLD.registered_at IS NOT NEW.registered_at
	 OR OLD.registered_from IS NOT NEW.registered_from
	 OR OLD.approved_by IS NOT NEW.approved_by
	 OR OLD.approved_at IS NOT NEW.approved_at
	 OR OLD.device_code_hash IS NOT NEW.device_code_hash
	 OR OLD.device_code_expires_at IS NOT NEW.device_code_expires_at
	 OR OLD.last_decision IS NOT NEW.last_decision
	 OR OLD.last_decision_by IS NOT NEW.last_decision_by
	 OR OLD.last_decision_at IS NOT NEW.last_decision_at
	 OR OLD.clone_suspected_at IS NOT NEW.clone_suspected_at
BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;

CREATE TRIGGER endpoints_cache_delete AFTER DELETE ON endpoints BEGIN
	UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'cache_generation';
END;


-- refresh_tokens_chain is the first column of refresh_tokens_chain_revoked
-- (0004), which serves every lookup by chain: one index fewer to write per
-- issued token.
DROP INDEX refresh_tokens_chain;
