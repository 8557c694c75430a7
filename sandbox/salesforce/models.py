"""The Salesforce sandbox's tables: records as JSON documents, and the external-id index.

A record's fields live in one JSON column, validated against `schema.SCHEMA` on every write;
`SfExternalId` holds each external-id value once (its primary key), which is what makes an
upsert by external id create at most one record whatever the retries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field

from sandbox.db import SandboxModel


class SfRecord(SandboxModel, table=True):
    __tablename__ = "sf_record"

    id: str = Field(primary_key=True, max_length=18)
    sobject: str = Field(index=True)
    seq: int = Field(index=True)  # creation order, the default order of query results
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class SfExternalId(SandboxModel, table=True):
    __tablename__ = "sf_external_id"

    sobject: str = Field(primary_key=True)
    field: str = Field(primary_key=True)
    value: str = Field(primary_key=True)
    record_id: str = Field(index=True)
