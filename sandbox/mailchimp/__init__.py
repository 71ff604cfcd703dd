"""Mailchimp Marketing API v3 emulator (docs/connector-mailchimp.md, "Emulator")."""
