"""The ``gateway`` command line, beside the app at the top of the layers (it starts the app for ``serve``).

- ``main``: the parser, ``serve``, ``config show|docs``, ``tls self-signed``, and the subcommands below.
- ``search``: ``gateway search`` and ``gateway export`` (HTTP clients of a running gateway).
- ``resolve``: ``gateway resolve``.
- ``registry``: ``gateway registry list|join|approve|suspend|remove``.

``gateway passport …`` lives with the Passport tools (:mod:`gateway.passports.tools.cli`), ``gateway refcommons …``
with the reference commons (:mod:`refcommons.cli`).
"""
