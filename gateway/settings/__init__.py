"""The gateway's configuration: every section as a plain pydantic model, loaded from a YAML file through
pydantic-settings' own source and overlaid by ``GATEWAY_*`` environment variables.

A leaf: nothing here imports from the rest of the gateway (only the pure template grammar of ``value_templates`` is
shared with the Passport rules). The domain packages compile their runtime objects from these models (the Passport
trust and grants in :mod:`gateway.passports.build`, mappings in :mod:`gateway.discovery.mapping.compiler` and
:mod:`gateway.search.mapping.model`, the tier policy in :mod:`gateway.access.tiers`).

- ``gateway``: the root :class:`~gateway.settings.gateway.Settings` and :func:`~gateway.settings.gateway.load_settings`.
- ``sections``: the core sections (store, cache, log, refcommons, registry, health, upstream, resolver, drs, tls,
  service-info).
- ``passports``, ``aggregate`` (with ``search`` and ``discovery``): the feature sections.
- ``yaml_source``: the file source; ``reference``: the table of every key in ``docs/configuration.md``.
"""
