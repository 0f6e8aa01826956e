"""The web portal for people: the pages' models and the rules behind them, without HTTP.

Every page is a thin client of the gateway's own services, the very objects the JSON API's handlers call (the
resolver, the DRS service, the registry's repository and health monitor, …): a page model here takes such a
service and answers plain dataclasses the web edge (:mod:`gateway.web.routes.portal`) renders with Jinja2
templates (``templates/``). No second data path: nothing here reaches a member, the store or the cache except
through those services. The page security rules are here too, as pure functions: the Content-Security-Policy
(:mod:`~gateway.portal.csp`) and CSRF tokens (:mod:`~gateway.portal.csrf`); the static files the pages load,
vendored htmx included, are :mod:`~gateway.portal.assets`. See docs/portal.md.
"""
