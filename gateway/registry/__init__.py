"""Member commons of the federation: who they are, which GUID prefixes and DRS hostnames they own,
their lifecycle (pending → active ⇄ suspended) and their health."""
