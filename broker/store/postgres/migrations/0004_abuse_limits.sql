-- Failed key presentations counted per scope and window, merged by every
-- broker sharing the store at most once a second (SQLite's 0011).
CREATE TABLE failure_counts (
	window_start BIGINT NOT NULL,
	scope        TEXT   NOT NULL,
	count        BIGINT NOT NULL,
	PRIMARY KEY (window_start, scope)
);

-- Caps on pending registrations per key value and per account (SQLite's
-- 0011), and the pending counts kept by a trigger so that a cap is checked
-- by reading one row.
ALTER TABLE accounts ADD COLUMN pending_per_key_value BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN pending_per_account   BIGINT NOT NULL DEFAULT 0;

CREATE TABLE pending_counts (
	scope TEXT   NOT NULL PRIMARY KEY,
	n     BIGINT NOT NULL
);
INSERT INTO pending_counts (scope, n)
	SELECT 'value:' || key_value_id, count(*) FROM endpoints WHERE state = 'pending' GROUP BY key_value_id;
INSERT INTO pending_counts (scope, n)
	SELECT 'account:' || account_id, count(*) FROM endpoints WHERE state = 'pending' GROUP BY account_id;
CREATE FUNCTION endpoints_pending_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 'pending' THEN
		UPDATE pending_counts SET n = n - 1 WHERE scope IN ('value:' || OLD.key_value_id, 'account:' || OLD.account_id);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state = 'pending' THEN
		INSERT INTO pending_counts (scope, n) VALUES ('value:' || NEW.key_value_id, 1), ('account:' || NEW.account_id, 1)
			ON CONFLICT (scope) DO UPDATE SET n = pending_counts.n + 1;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER endpoints_pending_count AFTER INSERT OR UPDATE OR DELETE ON endpoints
	FOR EACH ROW EXECUTE FUNCTION endpoints_pending_count();
