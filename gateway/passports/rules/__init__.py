"""gateway.passports.rules."""
