"""The HTTP edge: one module per inbound webhook, each verifying, parsing and handing over."""
