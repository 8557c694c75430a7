"""The ERP sandbox's tables: records as JSON documents, and the external-id index.

`ErpExternalId`'s primary key (record type, external id) is what makes a PUT on `eid:` create
at most one record, however often it is retried.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field

from sandbox.db import SandboxModel


class ErpRecord(SandboxModel, table=True):
    __tablename__ = "erp_record"

    record_type: str = Field(primary_key=True)
    id: int = Field(primary_key=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ErpExternalId(SandboxModel, table=True):
    __tablename__ = "erp_external_id"

    record_type: str = Field(primary_key=True)
    value: str = Field(primary_key=True)
    record_id: int = Field(index=True)
