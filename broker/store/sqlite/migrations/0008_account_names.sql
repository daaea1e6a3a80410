-- 0008_account_names: an account's name is unique among the accounts of
-- its parent, ignoring case (issue 12).
--
-- name_key holds registry.AccountNameKey(name), computed in Go: SQLite's
-- lower() folds ASCII only. Existing rows get theirs from Open's Go step
-- after the migrations (accountnames.go), which also renames the later of
-- any duplicates ("NAME (2)", audited as account.rename) and only then
-- creates the unique index accounts_parent_name_key ON accounts
-- (parent_id, name_key) WHERE name_key <> ''. Root accounts (parent_id
-- '') are siblings of one another.

ALTER TABLE accounts ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
