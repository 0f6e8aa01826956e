"""gateway.passports.trust.issuers."""
