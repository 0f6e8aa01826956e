"""Member commons as the gateway reaches them: one adapter per kind (``gen3``, ``drs``) behind explicit capability
protocols (``protocols``: records, bulk records, access, cohort search, study discovery, authz), over one pooled
HTTP client per member (``http``, ``remote``, ``credentials``).

Adapters do I/O and nothing else: they fetch, translate the member's wire format into the plain types of
:mod:`gateway.core.records` and :mod:`gateway.members.search`, and raise the errors of :mod:`gateway.core.errors`.
``passthrough`` says which caller credentials may travel to which member. The in-process reference commons is a
member too, but only the app may hold it: its adapter is :mod:`gateway.app.inprocess`.
"""
