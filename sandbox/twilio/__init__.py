"""Twilio REST API 2010-04-01 emulator: account and Programmable Messaging (docs/connector-twilio.md, "Emulator")."""
