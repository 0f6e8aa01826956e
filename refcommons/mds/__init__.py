"""refcommons.mds.catalog."""
