"""The reference commons' HTTP routes, one module per Gen3 service it imitates (indexd, DRS, fence, Arborist's
auth mapping, MDS, Guppy), over the services of :class:`~refcommons.commons.ReferenceCommons`.

Kept apart from the service packages so that the commons (which holds the services) and its routes (which read
the commons from the app, :data:`~refcommons.routes.keys.COMMONS`) never import each other's package in a circle;
:mod:`refcommons.app` mounts them.
"""
