"""refcommons.fence.service."""
