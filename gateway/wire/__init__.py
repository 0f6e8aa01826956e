"""The wire formats of the standards the federation speaks, as pure models and functions (no I/O): the GA4GH DRS 1.5
models (``drs``) and output profiles (``drs_profile``), an indexd record as a DRS object (``indexd``), checksum names
(``checksums``) and Guppy's filter grammar (``guppy``).

Low in the layers on purpose: the members, the DRS feature and the reference commons all speak these formats, and
each rule is written once here.
"""
