"""The web edge. The toolkit (errors, bodies, query parameters, rendering, request ids, OpenAPI docs) is shared by
the gateway and the reference commons; :mod:`gateway.web.keys` and :mod:`gateway.web.state` say what the gateway's
application holds, and :mod:`gateway.web.routes` declares its handlers."""
