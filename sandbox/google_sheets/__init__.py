"""Google Sheets API v4 emulator with its OAuth token endpoint (docs/connector-google-sheets.md, "Emulator")."""
