"""builder.serving_environment: the one environment setting (LD_PRELOAD) that a process loading our
engines without our Python code needs (docs/plugins.md, "Serving"). No TensorRT needed."""

from __future__ import annotations

from pathlib import Path

from trtllm_redrafter.trtllm.builder import serving_environment


def test_the_library_comes_first_and_other_preloads_stay(tmp_path: Path):
    library = tmp_path / "libtrtllm_redrafter_plugins.so"
    library.write_bytes(b"")
    assert serving_environment(library, environ={}) == {"LD_PRELOAD": str(library.resolve())}
    env = {"LD_PRELOAD": "/usr/lib/libjemalloc.so libfoo.so:/opt/x/libbar.so"}
    assert serving_environment(library, env)["LD_PRELOAD"].split(":") == [
        str(library.resolve()),
        "/usr/lib/libjemalloc.so",
        "libfoo.so",
        "/opt/x/libbar.so",
    ]


def test_the_library_is_named_once(tmp_path: Path):
    """An LD_PRELOAD that names the library already (by another path to the same file, or by its file
    name) does not name it twice: a second copy would register the creators twice."""
    library = tmp_path / "build" / "libtrtllm_redrafter_plugins.so"
    library.parent.mkdir()
    library.write_bytes(b"")
    link = tmp_path / "link.so"
    link.symlink_to(library)
    env = {"LD_PRELOAD": f"{link}:libtrtllm_redrafter_plugins.so:/usr/lib/libother.so"}
    assert serving_environment(tmp_path / "build" / ".." / "build" / library.name, env) == {
        "LD_PRELOAD": f"{library.resolve()}:/usr/lib/libother.so"
    }
