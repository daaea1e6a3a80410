-- 0006_account_requirements: issue 10, point 4 (account settings).
--
-- SPEC T1, T3: an account may refuse registrations without a public key,
-- and the HCP-Request-Signature fallback on logins with a bound token.
ALTER TABLE accounts ADD COLUMN require_endpoint_keys INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN require_dpop          INTEGER NOT NULL DEFAULT 0;
