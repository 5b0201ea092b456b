"""A repository of the system's C++ libraries, one cc_library each, link flags from pkg-config.

gRPC 1.51 alone needs ~90 link flags (abseil pieces, re2, c-ares, upb, ssl); pkg-config knows
them, a hand-written list would rot.
"""

# target name -> pkg-config modules
_LIBS = {
    "grpc++": ["grpc++", "protobuf"],
    "protobuf": ["protobuf"],
    "absl": [
        "absl_status",
        "absl_statusor",
        "absl_strings",
        "absl_str_format",
        "absl_synchronization",
        "absl_time",
        "absl_flags",
        "absl_flags_parse",
        "absl_flags_usage",
        "absl_random_random",
        "absl_raw_hash_set",
        "absl_hash",
    ],
    "crypto": ["libcrypto"],
    "curl": ["libcurl"],
    "benchmark": ["benchmark"],
    "gtest": ["gtest", "gmock"],
    "gtest_main": ["gtest_main", "gmock"],
}

def _pkg_config(ctx, args):
    result = ctx.execute(["pkg-config"] + args)
    if result.return_code != 0:
        fail("pkg-config %s failed (run ./bootstrap.sh): %s" % (" ".join(args), result.stderr))
    return [f for f in result.stdout.strip().replace("\n", " ").split(" ") if f]

def _quote_list(items):
    return "[" + ", ".join(['"%s"' % i for i in items]) + "]"

def _system_libs_impl(ctx):
    # Headers stay where Debian put them (/usr/include is on the default include path).
    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, modules in _LIBS.items():
        available = []
        for m in modules:
            if ctx.execute(["pkg-config", "--exists", m]).return_code == 0:
                available.append(m)
            else:
                fail("pkg-config module %s not found (run ./bootstrap.sh)" % m)
        linkopts = _pkg_config(ctx, ["--libs"] + available)
        copts = [f for f in _pkg_config(ctx, ["--cflags"] + available) if not f.startswith("-I/usr/include")]
        build.append("cc_library(")
        build.append('    name = "%s",' % name)
        build.append("    linkopts = %s," % _quote_list(linkopts))
        build.append("    defines = %s," % _quote_list([f[2:] for f in copts if f.startswith("-D")]))
        build.append(")")
        build.append("")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD.bazel", "\n".join(build))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    environ = ["PKG_CONFIG_PATH"],
)
