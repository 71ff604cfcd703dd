"""The Cyberimpact REST API emulator: app (routes), model, state and document, and its batch jobs."""
