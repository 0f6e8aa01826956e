"""The bundled reference commons: a small, real, Gen3-compatible data commons (indexd, DRS, fence subset,
MDS) over a deterministic synthetic dataset. Runs in-process inside the gateway or as its own server."""
