"""Requests protobuf cannot decode: bytes that are not a message of the method's type, or a string field that is not
UTF-8. Raised inside gRPC's own deserialization, such an error would reach the caller as UNKNOWN with Python's
class name in the message; instead the handler receives an UndecodableRequest in the request's place, and ends the
call with it (INVALID_ARGUMENT, api/status.py)."""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import DecodeError, Message

from service.domain.errors import DecisionServiceError


class UndecodableRequest(DecisionServiceError):
    def __init__(self, message_type: str) -> None:
        super().__init__(f"the request is not a valid {message_type} message: a string in it that is not UTF-8, bytes"
                         " cut short or garbled, or values nested too deep (an applicant attribute holding structures"
                         " within structures, which no attribute may hold)")


def decoder(message_class: type[Message]) -> Callable[[bytes], Message | UndecodableRequest]:
    """The request deserializer for a method taking `message_class`."""
    parse = message_class.FromString
    name = message_class.DESCRIPTOR.full_name

    def decode(data: bytes) -> Message | UndecodableRequest:
        try:
            return parse(data)
        except DecodeError:
            return UndecodableRequest(name)

    return decode
