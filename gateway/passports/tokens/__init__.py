"""gateway.passports.tokens."""
