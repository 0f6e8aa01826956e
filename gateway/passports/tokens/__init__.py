"""What the gateway issues: gateway tokens for members in ``gateway_token`` mode (``gateway_token``: the wire format
and its checks, object and search tokens) and the rotating key ring that signs them (``token_keys``)."""
