-- 0005_keychange: issue 10, points 3 and 4 (key changes).
--
-- A pending key change also holds what the registration that asked for it
-- said about the device (description, hostname, OS, version): an admin
-- decides on it, and approval applies it. Nothing in the endpoint changes
-- before then. A keyless re-registration is a key change too: its
-- key_thumbprint is a "keyless-…" marker naming that one request.
ALTER TABLE endpoint_key_changes ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoint_key_changes ADD COLUMN hostname    TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoint_key_changes ADD COLUMN os          TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoint_key_changes ADD COLUMN version     TEXT NOT NULL DEFAULT '';
