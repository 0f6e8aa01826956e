"""gateway.search.mapping."""
