"""Trust: actor tokens, payload encryption, connections to Temporal."""
