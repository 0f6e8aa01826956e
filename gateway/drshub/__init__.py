"""DRSHub compatibility: Terra's DRS resolver API (``POST /api/v4/drs/resolve``) over the federation."""
