"""refcommons.indexd."""
