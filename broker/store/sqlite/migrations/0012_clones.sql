-- 0012_clones: issue 15, point 6 (clone detection, SPEC R24).
--
-- A refresh token names the token it was issued for (its parent; '' for
-- the first of a chain), so two successors of one token can be told
-- apart: both used means two holders of one identity.
ALTER TABLE refresh_tokens ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
CREATE INDEX refresh_tokens_parent ON refresh_tokens (parent_id);
-- When a clone of the endpoint was last suspected (NULL: never, or an
-- administrator cleared the mark).
ALTER TABLE endpoints ADD COLUMN clone_suspected_at INTEGER;
-- An account may lock suspected clones out (untrust the endpoint at once).
ALTER TABLE accounts ADD COLUMN lock_out_clones INTEGER NOT NULL DEFAULT 0;
