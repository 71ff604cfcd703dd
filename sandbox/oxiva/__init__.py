"""Oxiva emulator (docs/connector-oxiva.md, "The emulator")."""
