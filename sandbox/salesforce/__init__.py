"""The Salesforce stand-in: OAuth 2.0 client credentials and the REST API (v62.0) shape."""
