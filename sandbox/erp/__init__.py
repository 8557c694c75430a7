"""The ERP stand-in: NetSuite's REST record API (v1) shape with OAuth 2.0 client credentials."""
