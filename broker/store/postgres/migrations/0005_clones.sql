-- 0005_clones: issue 15, point 6 (clone detection, SPEC R24); SQLite's 0012.
ALTER TABLE refresh_tokens ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
CREATE INDEX refresh_tokens_parent ON refresh_tokens (parent_id);
ALTER TABLE endpoints ADD COLUMN clone_suspected_at BIGINT;
ALTER TABLE accounts ADD COLUMN lock_out_clones BOOLEAN NOT NULL DEFAULT false;
