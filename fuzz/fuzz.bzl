"""A libFuzzer target built from the product's own libraries, and its corpus replay."""

def fuzz_target(name, deps):
    """Defines <name>_fuzz (the target's code), <name>_fuzz_replay_test and <name>_fuzzer.

    <name>_fuzz_replay_test runs every input in corpus/<name>/ through the target under
    `bazel test` (any compiler). <name>_fuzzer is the libFuzzer binary: it needs
    `--config=fuzz` (clang, sanitizers), so it is tagged manual and left out of //...

    Args:
      name: the target's name; its code is <name>_fuzz.cc, its corpus corpus/<name>/.
      deps: the libraries under test.
    """
    native.cc_library(
        name = name + "_fuzz",
        srcs = [name + "_fuzz.cc"],
        deps = deps,
        alwayslink = True,
    )
    native.cc_test(
        name = name + "_fuzz_replay_test",
        srcs = ["replay_main.cc"],
        args = ["fuzz/corpus/" + name],
        data = native.glob(["corpus/" + name + "/**"]),
        deps = [":" + name + "_fuzz"],
    )
    native.cc_binary(
        name = name + "_fuzzer",
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
        deps = [":" + name + "_fuzz"],
    )
