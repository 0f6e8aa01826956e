"""gateway.passports.jose."""
