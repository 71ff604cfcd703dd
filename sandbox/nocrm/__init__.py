"""noCRM.io emulator: the simplified API's lead actions (docs/connector-nocrm.md)."""
