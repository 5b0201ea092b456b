"""e2e_test: a test of swarm end to end, driving its real binaries."""

# What every end-to-end test runs: swarm-cli and the three services.
_BINARIES = [
    "//cli:swarm-cli",
    "//coordinator",
    "//peer_svc",
    "//tracker_svc",
]

def e2e_test(name, deps, size = "large", exclusive = True, data = []):
    """cc_test `name` from `name`.cc, with the binaries as data and gtest_main.

    Never sandboxed: opentracker drops to user nobody, which the sandbox's user namespace
    lacks. Alone on the machine unless exclusive = False: its downloads use the loopback
    and both cores.
    """
    native.cc_test(
        name = name,
        size = size,
        srcs = [name + ".cc"],
        data = _BINARIES + data,
        tags = (["exclusive"] if exclusive else []) + ["no-sandbox"],
        deps = deps + [
            "@system//:absl",
            "@system//:gtest_main",
        ],
    )
