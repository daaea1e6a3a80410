-- 0007_endpoint_records: issue 12, points 1 and 2 (what the endpoint list
-- and the audit log say about one endpoint).
--
-- One endpoint's history is read by actor or target (audit --endpoint);
-- 0002 indexed both (audit_events_actor, audit_events_target), so that
-- query and the backfill below need no scan.

-- decided_by/decided_at held the last trust decision, so an untrust
-- overwrote when and by whom the endpoint had been approved. They become
-- the approval (only approvals set them), and the last decision gets
-- columns of its own: what it was (approve, reject, untrust), by whom,
-- when.
ALTER TABLE endpoints RENAME COLUMN decided_by TO approved_by;
ALTER TABLE endpoints RENAME COLUMN decided_at TO approved_at;
ALTER TABLE endpoints ADD COLUMN last_decision    TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN last_decision_by TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN last_decision_at INTEGER;

-- What the old columns held was the last decision: the state says which.
UPDATE endpoints SET
	last_decision = CASE state WHEN 'trusted' THEN 'approve' WHEN 'rejected' THEN 'reject' ELSE 'untrust' END,
	last_decision_by = approved_by,
	last_decision_at = approved_at
WHERE state IN ('trusted', 'rejected', 'untrusted') AND approved_at IS NOT NULL;

-- A rejected endpoint was never approved (reject leaves only pending). An
-- untrusted one was: its approval is the last approve in the audit log
-- (or its registration, trusted at once by its key or account); where the
-- log has neither, the approval is unknown and left empty.
UPDATE endpoints SET approved_by = '', approved_at = NULL WHERE state = 'rejected';
UPDATE endpoints SET
	approved_at = (SELECT a.time FROM audit_events a
		WHERE a.outcome = 'success' AND (
			(a.action = 'endpoint.approve' AND a.target = 'endpoint:' || endpoints.id) OR
			(a.action = 'endpoint.register' AND a.target = endpoints.id AND json_extract(a.detail, '$.state') = 'trusted'))
		ORDER BY a.id DESC LIMIT 1),
	approved_by = coalesce((SELECT a.actor FROM audit_events a
		WHERE a.outcome = 'success' AND (
			(a.action = 'endpoint.approve' AND a.target = 'endpoint:' || endpoints.id) OR
			(a.action = 'endpoint.register' AND a.target = endpoints.id AND json_extract(a.detail, '$.state') = 'trusted'))
		ORDER BY a.id DESC LIMIT 1), '')
WHERE state = 'untrusted';

-- issue 12, point 5: a value presented after its key was deleted is
-- refused as "key deleted", not "unknown". Deleting a key keeps, for each
-- of its values, the public id (never the secret's hash) and whose it was.
CREATE TABLE deleted_key_values (
	public_id  TEXT NOT NULL PRIMARY KEY,
	key_id     TEXT NOT NULL,
	account_id TEXT NOT NULL
) STRICT;
