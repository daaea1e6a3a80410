-- 0006_cache_generation: issue 17, point 1; SQLite's 0013, which says why.
-- The generation comes from a sequence: nextval never hands out a value
-- twice, even when the transaction that took it rolls back.
CREATE SEQUENCE cache_generation;
INSERT INTO meta (key, value) VALUES ('cache_generation', nextval('cache_generation')::text)
	ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
CREATE FUNCTION bump_cache_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE meta SET value = nextval('cache_generation')::text WHERE key = 'cache_generation';
	RETURN NULL;
END
$$;

CREATE TRIGGER accounts_cache AFTER INSERT OR UPDATE OR DELETE ON accounts
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER users_cache AFTER INSERT OR UPDATE OR DELETE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER roles_cache AFTER INSERT OR UPDATE OR DELETE ON roles
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER grants_cache AFTER INSERT OR UPDATE OR DELETE ON grants
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER api_keys_cache AFTER INSERT OR UPDATE OR DELETE ON api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER key_values_cache_insert_delete AFTER INSERT OR DELETE ON key_values
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER key_values_cache_update AFTER UPDATE OF id, key_id, public_id, secret_hash, description, created_at, expires_at, revoked_at, use_count, use_limit, edge_device ON key_values
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER endpoints_cache_delete AFTER DELETE ON endpoints
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
CREATE TRIGGER endpoints_cache_update AFTER UPDATE ON endpoints FOR EACH ROW
	WHEN (OLD.id IS DISTINCT FROM NEW.id
	 OR OLD.account_id IS DISTINCT FROM NEW.account_id
	 OR OLD.state IS DISTINCT FROM NEW.state
	 OR OLD.type IS DISTINCT FROM NEW.type
	 OR OLD.description IS DISTINCT FROM NEW.description
	 OR OLD.hostname IS DISTINCT FROM NEW.hostname
	 OR OLD.os IS DISTINCT FROM NEW.os
	 OR OLD.version IS DISTINCT FROM NEW.version
	 OR OLD.key_type IS DISTINCT FROM NEW.key_type
	 OR OLD.public_key IS DISTINCT FROM NEW.public_key
	 OR OLD.key_thumbprint IS DISTINCT FROM NEW.key_thumbprint
	 OR OLD.key_id IS DISTINCT FROM NEW.key_id
	 OR OLD.key_value_id IS DISTINCT FROM NEW.key_value_id
	 OR OLD.registered_at IS DISTINCT FROM NEW.registered_at
	 OR OLD.registered_from IS DISTINCT FROM NEW.registered_from
	 OR OLD.approved_by IS DISTINCT FROM NEW.approved_by
	 OR OLD.approved_at IS DISTINCT FROM NEW.approved_at
	 OR OLD.device_code_hash IS DISTINCT FROM NEW.device_code_hash
	 OR OLD.device_code_expires_at IS DISTINCT FROM NEW.device_code_expires_at
	 OR OLD.last_decision IS DISTINCT FROM NEW.last_decision
	 OR OLD.last_decision_by IS DISTINCT FROM NEW.last_decision_by
	 OR OLD.last_decision_at IS DISTINCT FROM NEW.last_decision_at
	 OR OLD.clone_suspected_at IS DISTINCT FROM NEW.clone_suspected_at)
	EXECUTE FUNCTION bump_cache_generation();
