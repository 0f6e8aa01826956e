"""refcommons.guppy."""
