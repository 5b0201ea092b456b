"""Protobuf + gRPC C++ code generation with the system protoc (no @com_google_protobuf)."""

def cc_grpc_proto_library(name, src, deps = [], grpc = True, visibility = None):
    """Generates and compiles x.pb.{h,cc} (and x.grpc.pb.{h,cc} when grpc) from one .proto.

    Args:
      name: the cc_library's name.
      src: the .proto file in this package.
      deps: other cc_grpc_proto_library targets whose .proto files src imports.
      grpc: also generate the gRPC service stubs.
      visibility: of the cc_library.
    """
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin) "
    native.genrule(
        name = name + "_gen",
        srcs = [src] + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = "protoc -I. --cpp_out=$(GENDIR) " + grpc_flags + "$(location " + src + ")",
    )
    native.filegroup(name = name + "_srcs", srcs = [src], visibility = visibility)
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system//:grpc++"],
        visibility = visibility,
    )
