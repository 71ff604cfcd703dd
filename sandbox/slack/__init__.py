"""Slack incoming-webhooks emulator."""
