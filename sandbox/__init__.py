"""Local stand-ins for Salesforce, the billing platform and the ERP, over real HTTP.

Each system is a FastAPI app speaking its vendor's wire format; `sandbox.server` runs the three
in one process. State lives in SQL through SQLModel; faults are injected per system and route.
"""
