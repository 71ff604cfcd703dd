"""Zendesk Support API emulator (docs/sandbox-zendesk.md)."""
