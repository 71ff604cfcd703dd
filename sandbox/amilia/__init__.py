"""The Amilia API v3 emulator: app (routes), state and document (the organisation), render, seed data,
and the webhooks it sends."""
