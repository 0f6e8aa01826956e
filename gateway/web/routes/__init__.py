"""The gateway's HTTP routes, one module per surface: they parse, call a feature, render. Services are read from the
app's keys (:mod:`gateway.web.keys`); nothing here builds one (the app does).

``drs``, ``fence``, ``drshub``: GA4GH DRS and its compatibility surfaces; ``resolver``, ``indexd``: resolution and
dataguids/indexd reads; ``registry``: the registry API and GA4GH service registry; ``search``, ``export``,
``export_jobs``: cohort search and export; ``discovery``: Aggregate MDS; ``passports``: the gateway-token JWKS;
``status``: ``/_status``, ``/service-info``, ``/openapi.json``; ``metrics``: ``/metrics`` (Prometheus).
"""
