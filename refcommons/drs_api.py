"""STUB (replaced by its owner): HTTP routes."""
from aiohttp import web

routes = web.RouteTableDef()
