-- Failed key presentations counted per scope (an address, a key's public
-- id) and window, merged by every broker sharing the store at most once a
-- second (issue 15; registry.MergeFailures). Rows of past windows are
-- deleted as the merge goes.
CREATE TABLE failure_counts (
	window_start INTEGER NOT NULL,
	scope        TEXT    NOT NULL,
	count        INTEGER NOT NULL,
	PRIMARY KEY (window_start, scope)
);

-- Caps on pending registrations (SPEC R8, issue 15): per key value and per
-- account, 0 = the broker's default.
ALTER TABLE accounts ADD COLUMN pending_per_key_value INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN pending_per_account   INTEGER NOT NULL DEFAULT 0;

-- The pending endpoints per key value ("value:<id>") and per account
-- ("account:<id>"), kept by triggers in the transaction that changes an
-- endpoint, so that the cap is checked by reading one row: counting up to
-- 50,000 rows before each registration would make a flood a load.
CREATE TABLE pending_counts (
	scope TEXT    NOT NULL PRIMARY KEY,
	n     INTEGER NOT NULL
) STRICT;
INSERT INTO pending_counts (scope, n)
	SELECT 'value:' || key_value_id, count(*) FROM endpoints WHERE state = 'pending' GROUP BY key_value_id;
INSERT INTO pending_counts (scope, n)
	SELECT 'account:' || account_id, count(*) FROM endpoints WHERE state = 'pending' GROUP BY account_id;
CREATE TRIGGER endpoints_pending_insert AFTER INSERT ON endpoints WHEN NEW.state = 'pending' BEGIN
	INSERT INTO pending_counts (scope, n) VALUES ('value:' || NEW.key_value_id, 1)
		ON CONFLICT (scope) DO UPDATE SET n = n + 1;
	INSERT INTO pending_counts (scope, n) VALUES ('account:' || NEW.account_id, 1)
		ON CONFLICT (scope) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER endpoints_pending_delete AFTER DELETE ON endpoints WHEN OLD.state = 'pending' BEGIN
	UPDATE pending_counts SET n = n - 1 WHERE scope IN ('value:' || OLD.key_value_id, 'account:' || OLD.account_id);
END;
CREATE TRIGGER endpoints_pending_update AFTER UPDATE OF state, key_value_id, account_id ON endpoints
	WHEN OLD.state = 'pending' OR NEW.state = 'pending' BEGIN
	UPDATE pending_counts SET n = n - 1
		WHERE OLD.state = 'pending' AND scope IN ('value:' || OLD.key_value_id, 'account:' || OLD.account_id);
	INSERT INTO pending_counts (scope, n) SELECT 'value:' || NEW.key_value_id, 1 WHERE NEW.state = 'pending'
		ON CONFLICT (scope) DO UPDATE SET n = n + 1;
	INSERT INTO pending_counts (scope, n) SELECT 'account:' || NEW.account_id, 1 WHERE NEW.state = 'pending'
		ON CONFLICT (scope) DO UPDATE SET n = n + 1;
END;
