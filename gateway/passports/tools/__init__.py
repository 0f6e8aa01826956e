"""Developer tooling: ``gateway passport`` (``cli``), a development broker and Visa issuer NOT FOR PRODUCTION
(``devbroker``), and the report of ``gateway passport inspect`` (``explain``)."""
