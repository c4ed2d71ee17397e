"""gRPC server reflection under both of its names: `grpc.reflection.v1` and the older `v1alpha`.

grpcio-reflection serves only v1alpha. The two protocols are the same messages (same fields, same numbers) under
another package, so the v1alpha servicer answers a v1 caller byte for byte; v1's own file descriptor, derived from
v1alpha's, is added to the descriptor pool so that a client can describe the v1 service too.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def enable_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Serve reflection (v1 and v1alpha) on `server`, listing `service_names` and both reflection services."""
    _add_v1_descriptor()
    names = (*service_names, reflection.SERVICE_NAME, V1_SERVICE_NAME)
    servicer = _ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1_info = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {"ServerReflectionInfo": v1_info}),)
    )


class _ReflectionServicer(reflection.aio.ReflectionServicer):  # type: ignore[misc]  # grpc_reflection has no types
    """grpcio-reflection's, finding methods too: the protocol's symbols are `<package>.<service>[.<method>]`, but
    the descriptor pool finds no method by name (grpc/grpc#34743), so `grpcurl describe` of a method failed."""

    def _file_containing_symbol(self, request: object, fully_qualified_name: str) -> object:
        service_name, _, method = fully_qualified_name.rpartition(".")
        try:
            self._pool.FindFileContainingSymbol(fully_qualified_name)
        except KeyError:
            try:
                service = self._pool.FindServiceByName(service_name)
            except KeyError:
                service = None
            if service is not None and method in service.methods_by_name:
                return super()._file_containing_symbol(request, service_name)
        return super()._file_containing_symbol(request, fully_qualified_name)


def _add_v1_descriptor() -> None:
    """v1's file in the default pool (once per process): v1alpha's, with its package and type names renamed."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    old_package = reflection_pb2.DESCRIPTOR.package
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = _V1_FILE, V1_PACKAGE
    proto.ClearField("options")
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(f".{old_package}.", f".{V1_PACKAGE}.")
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(f".{old_package}.", f".{V1_PACKAGE}.")
            method.output_type = method.output_type.replace(f".{old_package}.", f".{V1_PACKAGE}.")
    pool.Add(proto)
