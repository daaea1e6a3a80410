-- 0004_login: user logins through devices over HTTP (SPEC S1-S7, T3).
--
-- DPoP proofs seen (RFC 9449): each is accepted once, across every broker
-- sharing this store. The id is a digest of the device key's thumbprint and
-- the proof's jti; it is kept until the broker-issued nonce the proof
-- carried has expired, since after that the proof is refused anyway.
CREATE TABLE dpop_proofs (
	id         TEXT NOT NULL PRIMARY KEY,
	expires_at INTEGER
) STRICT;

CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires_at);

-- S6: a user's sessions are the chains of their refresh tokens; ending one
-- revokes the chain, which every user access token of it checks.
CREATE INDEX refresh_tokens_chain_revoked ON refresh_tokens (chain_id, revoked_at);
