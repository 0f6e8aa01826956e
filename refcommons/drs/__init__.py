"""The reference commons' GA4GH DRS: its indexd records as DRS 1.5 objects and its service-info (``render``, pure,
over :mod:`gateway.wire`)."""
