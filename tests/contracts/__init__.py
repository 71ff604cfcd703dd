"""Contract tests: the requests the connectors send, checked against the vendors' published API descriptions."""
