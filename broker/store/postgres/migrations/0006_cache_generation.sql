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
CREATE TRIGGER endpoints_cache_update AFTER UPDATE OF id, account_id, state, type, description, hostname, os, version, key_type, public_key, key_thumbprint, key_id, key_value_id, registered_at, registered_from, approved_by, approved_at, device_code_hash, device_code_expires_at, updated_at, last_decision, last_decision_by, last_decision_at, clone_suspected_at ON endpoints
	FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_generation();
