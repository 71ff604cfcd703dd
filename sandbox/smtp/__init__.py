"""SMTP sink: a real SMTP server (aiosmtpd) that records every message it receives."""
