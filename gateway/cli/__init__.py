"""gateway.cli.main."""
