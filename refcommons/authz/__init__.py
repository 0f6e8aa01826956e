"""refcommons.authz.policy."""
