"""HTTP plumbing shared by the gateway and the reference commons: errors, bodies, request ids, docs."""
