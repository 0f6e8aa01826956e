"""The web portal's section (``portal.*``): the server-rendered pages for people (:mod:`gateway.portal`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PortalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True, description="Serve the web portal's pages (`/`, `/guid/{id}`, `/federation`, `/portal/static/…`); "
        "`false`: those paths answer the JSON 404 of any unknown route. The JSON API is the same either way."
    )
    max_ids: int = Field(
        100, ge=1, le=1000, description="Most ids one lookup on the home page resolves (the rest are listed as "
        "not looked up)."
    )
    explore_facets: list[str] = Field(
        ["project_id", "sex", "race", "ethnicity"], min_length=1, max_length=12,
        description="Fields of the `subject` index the cohort explorer (`/explore`) offers as facets."
    )
