-- The endpoint list (SPEC E6) of one account, in its order (registered
-- at, NULL first as in SQLite, then id): an ordered index scan instead of
-- sorting every endpoint of the account (SQLite's 0009).
CREATE INDEX endpoints_account_registered ON endpoints (account_id, registered_at NULLS FIRST, id);
