"""The one JOSE layer of the project: strict compact-JWS parsing and verification (``jws``, rules 3 and 6–12), its
encodings (``encoding``), keys bound to one algorithm (``jwk``, rule 9), signing keys and signing (``signing``) and
the errors (``errors``). Pure: no network, no clock. Passports, Visas, the gateway's own tokens and the reference
commons' fence tokens are all signed and verified here."""
