"""Requests from plain Python values: a dict read against a method's input message as its JSON
form (``{"algorithm": "HASH_ALGORITHM_SHA256", "text": "abc"}``), refused before anything is sent
with a FlowForgeError that names the field, as the gateway names it."""
from __future__ import annotations

import pkgutil
import re
from typing import Any, Mapping, Union

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory, symbol_database
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message

from flowforge.errors import FieldViolation, FlowForgeError

Request = Union[Message, Mapping[str, Any]]


def message_class(descriptor: Descriptor | str) -> type:
    """The generated class of a message type (by descriptor or full name)."""
    if hasattr(message_factory, "GetMessageClass"):  # protobuf 4.22 and later
        found = descriptor_pool.Default().FindMessageTypeByName(descriptor) if isinstance(descriptor, str) else descriptor
        return message_factory.GetMessageClass(found)
    return symbol_database.Default().GetSymbol(descriptor if isinstance(descriptor, str) else descriptor.full_name)


def method_named(name: str) -> MethodDescriptor:
    """A method by its full name (``flowforge.crypto.v1.CryptoService/Hash``) or ``CryptoService/Hash``."""
    import flowforge

    service, _, method = name.lstrip("/").partition("/")
    pool = descriptor_pool.Default()
    # Each capability's package: flowforge.<name>.v1.
    packages = [m.name for m in pkgutil.iter_modules(flowforge.__path__) if m.ispkg]
    for full in [service] if "." in service else [f"flowforge.{p}.v1.{service}" for p in packages]:
        try:
            return pool.FindServiceByName(full).methods_by_name[method]
        except KeyError:
            continue
    raise FlowForgeError(grpc.StatusCode.INVALID_ARGUMENT, f"no method {name} (name it as CryptoService/Hash)", [])


def request(message_type, value: Request) -> Message:
    """``value`` as a ``message_type`` message: a message of that type as it is, or a dict read as
    its JSON form (field names as in JSON or in the .proto, enums by name or number, bytes as
    base64). A value that does not fit raises FlowForgeError (invalid_argument) naming the field."""
    descriptor = getattr(message_type, "DESCRIPTOR", message_type)
    cls = message_type if isinstance(message_type, type) else message_class(descriptor)
    if isinstance(value, Message):
        if value.DESCRIPTOR.full_name != descriptor.full_name:
            raise FlowForgeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"expected a {descriptor.full_name}, got a {value.DESCRIPTOR.full_name}",
                [],
            )
        return value
    try:
        return json_format.ParseDict(dict(value), cls())
    except json_format.ParseError as err:
        field, description = _violation(str(err))
        violation = FieldViolation(field, description)
        raise FlowForgeError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {description}", violations=[violation]) from None


def _violation(text: str) -> tuple[str, str]:
    """The field a json_format error is about (its path, in proto names) and what it says."""
    # Nested messages prefix their fields' errors: "Failed to parse csv field: Failed to parse
    # delimiter field: expected string or bytes-like object, got 'int'."
    names, rest = [], text
    while True:
        named = re.match(r"Failed to parse (\w+) field: (.*)$", rest, re.S)
        if not named:
            break
        names.append(named.group(1))
        rest = named.group(2)
    # '... has no field named "colour" at "ConvertRequest.csv".', '... should not have multiple
    # "input" oneof fields at "HashRequest"', "Couldn't parse float: a at DescribeRequest.values[1]."
    where = re.search(r' at "?\w+\.?([\w\[\]]+(?:\.[\w\[\]]+)*)?"?\.?(?:\n.*)?$', rest, re.S)
    path = (where.group(1) or "") if where else ".".join(names)
    unknown = re.search(r'has no field named "([^"]+)"', rest)
    if unknown:
        return ".".join(p for p in (path, unknown.group(1)) if p), "unknown field"
    oneof = re.search(r'should not have multiple "(\w+)" oneof fields', rest)
    if oneof:
        return ".".join(p for p in (path, oneof.group(1)) if p), "set more than once: give one of its fields"
    return (path or "request"), (rest[: where.start()] if where else rest).rstrip(".")
