from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import wrappers_pb2 as _wrappers_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Table(_message.Message):
    __slots__ = ("table_id", "table_name", "time_column_name", "entity_key_column_name", "grouping_id", "create_time", "update_time", "version", "file_count", "subsort_column_name")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_COLUMN_NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_COLUMN_NAME_FIELD_NUMBER: _ClassVar[int]
    GROUPING_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUBSORT_COLUMN_NAME_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    table_name: str
    time_column_name: str
    entity_key_column_name: str
    grouping_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    version: int
    file_count: int
    subsort_column_name: _wrappers_pb2.StringValue
    def __init__(self, table_id: _Optional[str] = ..., table_name: _Optional[str] = ..., time_column_name: _Optional[str] = ..., entity_key_column_name: _Optional[str] = ..., grouping_id: _Optional[str] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., file_count: _Optional[int] = ..., subsort_column_name: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ...) -> None: ...

class RequestDetails(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class ListTablesRequest(_message.Message):
    __slots__ = ("search", "page_size", "page_token")
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    search: str
    page_size: int
    page_token: str
    def __init__(self, search: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTablesResponse(_message.Message):
    __slots__ = ("tables", "next_page_token", "request_details")
    TABLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_DETAILS_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[Table]
    next_page_token: str
    request_details: RequestDetails
    def __init__(self, tables: _Optional[_Iterable[_Union[Table, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., request_details: _Optional[_Union[RequestDetails, _Mapping]] = ...) -> None: ...

class GetTableRequest(_message.Message):
    __slots__ = ("table_name",)
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    table_name: str
    def __init__(self, table_name: _Optional[str] = ...) -> None: ...

class GetTableResponse(_message.Message):
    __slots__ = ("table", "request_details")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_DETAILS_FIELD_NUMBER: _ClassVar[int]
    table: Table
    request_details: RequestDetails
    def __init__(self, table: _Optional[_Union[Table, _Mapping]] = ..., request_details: _Optional[_Union[RequestDetails, _Mapping]] = ...) -> None: ...

class CreateTableRequest(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: Table
    def __init__(self, table: _Optional[_Union[Table, _Mapping]] = ...) -> None: ...

class CreateTableResponse(_message.Message):
    __slots__ = ("table", "request_details")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_DETAILS_FIELD_NUMBER: _ClassVar[int]
    table: Table
    request_details: RequestDetails
    def __init__(self, table: _Optional[_Union[Table, _Mapping]] = ..., request_details: _Optional[_Union[RequestDetails, _Mapping]] = ...) -> None: ...

class DeleteTableRequest(_message.Message):
    __slots__ = ("table_name", "force")
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    table_name: str
    force: bool
    def __init__(self, table_name: _Optional[str] = ..., force: bool = ...) -> None: ...

class DeleteTableResponse(_message.Message):
    __slots__ = ("data_token_id", "request_details")
    DATA_TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_DETAILS_FIELD_NUMBER: _ClassVar[int]
    data_token_id: str
    request_details: RequestDetails
    def __init__(self, data_token_id: _Optional[str] = ..., request_details: _Optional[_Union[RequestDetails, _Mapping]] = ...) -> None: ...
