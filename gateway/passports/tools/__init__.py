"""gateway.passports.tools."""
