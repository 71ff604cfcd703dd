"""OKAST emulator: the platform that posts its events (docs/connector-okast.md, "The emulator")."""
