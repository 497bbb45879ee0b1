"""The committed generated code is fresh, and the wire names and numbers are docs/protocol.md's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor

from kaskada.api.v1alpha import table_pb2

ROOT = Path(__file__).resolve().parent.parent

# Transcribed from docs/protocol.md: message -> {field: (number, type, repeated)}.
S, I32, I64, B, M = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_INT32,
                     FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_BOOL,
                     FieldDescriptor.TYPE_MESSAGE)
EXPECTED_FIELDS = {
    "Table": {
        "table_id": (1, S), "table_name": (2, S), "time_column_name": (3, S),
        "entity_key_column_name": (4, S), "grouping_id": (7, S), "create_time": (8, M),
        "update_time": (9, M), "version": (10, I64), "file_count": (14, I64),
        "subsort_column_name": (15, M),
    },
    "RequestDetails": {"request_id": (1, S)},
    "ListTablesRequest": {"search": (1, S), "page_size": (2, I32), "page_token": (3, S)},
    "ListTablesResponse": {"tables": (1, M), "next_page_token": (2, S),
                           "request_details": (3, M)},
    "GetTableRequest": {"table_name": (1, S)},
    "GetTableResponse": {"table": (1, M), "request_details": (2, M)},
    "CreateTableRequest": {"table": (1, M)},
    "CreateTableResponse": {"table": (1, M), "request_details": (2, M)},
    "DeleteTableRequest": {"table_name": (1, S), "force": (2, B)},
    "DeleteTableResponse": {"data_token_id": (1, S), "request_details": (2, M)},
}
MESSAGE_TYPES = {
    ("Table", "create_time"): "google.protobuf.Timestamp",
    ("Table", "update_time"): "google.protobuf.Timestamp",
    ("Table", "subsort_column_name"): "google.protobuf.StringValue",
    ("ListTablesResponse", "tables"): "kaskada.api.v1alpha.Table",
}
TABLE_RESERVED = {5, 6, 11, 12, 13, 16, 17, 18}
METHODS = {"ListTables", "GetTable", "CreateTable", "DeleteTable"}


def test_generated_code_is_not_stale() -> None:
    # The pinned generator lives in a venv of its own (scripts/gen_protos.py): CI
    # makes it and names it in GEN_PROTOS_PYTHON; elsewhere this needs it too.
    if not os.environ.get("GEN_PROTOS_PYTHON") and not os.environ.get("CI"):
        pytest.skip("GEN_PROTOS_PYTHON names no generator venv (.ci/run makes one)")
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def is_repeated(field: FieldDescriptor) -> bool:
    """``is_repeated`` since protobuf 5.28 (``label`` is gone in 7), ``label`` before."""
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def test_package_messages_and_field_numbers() -> None:
    file = table_pb2.DESCRIPTOR
    assert file.package == "kaskada.api.v1alpha"
    assert set(file.message_types_by_name) == set(EXPECTED_FIELDS)
    for message_name, fields in EXPECTED_FIELDS.items():
        message = file.message_types_by_name[message_name]
        actual = {f.name: (f.number, f.type) for f in message.fields}
        assert actual == fields, message_name
        for field in message.fields:
            repeated = (message_name, field.name) == ("ListTablesResponse", "tables")
            assert is_repeated(field) == repeated, (message_name, field.name)
            expected_type = MESSAGE_TYPES.get((message_name, field.name))
            if expected_type:
                assert field.message_type is not None
                assert field.message_type.full_name == expected_type


def test_reserved_numbers_of_table() -> None:
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.FileDescriptorProto()
    table_pb2.DESCRIPTOR.CopyToProto(proto)
    table = next(m for m in proto.message_type if m.name == "Table")
    reserved = {n for r in table.reserved_range for n in range(r.start, r.end)}
    assert reserved == TABLE_RESERVED
    used = {f.number for f in table.field}
    assert not reserved & used


def test_service_methods() -> None:
    service = table_pb2.DESCRIPTOR.services_by_name["TableService"]
    assert service.full_name == "kaskada.api.v1alpha.TableService"
    assert {m.name for m in service.methods} == METHODS
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"
        assert not method.client_streaming and not method.server_streaming
