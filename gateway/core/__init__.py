"""The bottom layer: what every other package may use and nothing here imports from above.

Deadlines, member records and the member registry entry, the shared errors, logging, the fan-out helpers, and the
outbound HTTP toolkit: one client factory (:mod:`.http_client`), one redirect rule (:mod:`.redirects`), one
egress policy (:mod:`.egress`), and the one unverified JWT peek (:mod:`.jwt_peek`).
"""
