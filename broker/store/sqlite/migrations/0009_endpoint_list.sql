-- The endpoint list (SPEC E6) of one account, in its order (registered
-- at, then id): an ordered index scan instead of sorting every endpoint of
-- the account, so a page at 100,000 endpoints reads one page of rows.
CREATE INDEX endpoints_account_registered ON endpoints (account_id, registered_at, id);
