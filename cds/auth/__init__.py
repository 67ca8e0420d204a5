"""CDS Hooks 2.0 JWT checking: issuer allowlist, JWKS key sets, replay cache and the token verifier."""
