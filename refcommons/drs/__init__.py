"""refcommons.drs."""
