"""iAdvize emulator: OAuth2 password grant, the GraphQL subset the connector uses, signed webhooks."""
