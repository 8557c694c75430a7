"""One module per outside system (Salesforce, billing, ERP, ledger), each with typed errors."""
