"""The reference commons' imitation of fence: who a request is and what it may do (``service``), API keys
(``apikeys``) and the access tokens they are exchanged for (``tokens``, through the gateway's JOSE layer), signed
download URLs (``signing``), and the two ways a federation gateway's caller reaches controlled data: gateway tokens
(``gateway_trust``) and GA4GH Passports (``passports``)."""
