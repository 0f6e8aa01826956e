"""Identifier resolution: parse what users send (``identifiers``), pick the member that owns each id
(``routing``, ``upstream`` and ``dist`` for prefixes no member owns), ask the members for them (``asking``; a busy
member's one-id lookups sent together: ``coalescing``),
remember the answers (``cache_entries``): one pipeline for one id and for many (``service``), answering
``outcomes``. ``records`` shows a member's record in another wire format."""
