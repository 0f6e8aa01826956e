"""GA4GH Data Repository Service (DRS 1.5) wire format: pydantic models and output profiles."""
