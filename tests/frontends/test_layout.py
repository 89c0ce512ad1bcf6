"""Every ctypes mirror of a C struct in the Python package against the
header as compiled (run with pytest; see tests/frontends/tests.cmake).

HG_STRUCT_LAYOUT is tests/frontends/struct_layout.c built: it prints each
struct's size and each field's offset and size.  A mirror is any
ctypes.Structure in the package; each names its C struct (_c_struct_).
"""
import ctypes
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import heapgrab  # noqa: E402

LAYOUT = os.environ.get("HG_STRUCT_LAYOUT", "")


@pytest.fixture(scope="module")
def header():
    if not LAYOUT or not os.access(LAYOUT, os.X_OK):
        pytest.fail(f"HG_STRUCT_LAYOUT={LAYOUT!r} is not the struct_layout program: run "
                    "through ctest")
    out = subprocess.run([LAYOUT], capture_output=True, check=True).stdout
    return json.loads(out)


def mirrors():
    heapgrab._load()  # the totals mirror is made from the library's list
    found = []
    for value in vars(heapgrab).values():
        if isinstance(value, type) and issubclass(value, ctypes.Structure):
            found.append(value)
    return found


def test_the_package_has_its_mirrors():
    names = {getattr(m, "_c_struct_", None) for m in mirrors()}
    assert {"hg_mapping", "hg_reader_thread", "hg_reader", "hg_core_options",
            "hg_snapshot_options", "hg_chunk", "hg_totals", "hg_root", "hg_leak_totals",
            "hg_object", "hg_leak_group", "hg_type", "hg_type_totals"} <= names


def test_leak_example_sizes_are_the_headers():
    """The examples' array in the group mirror: HG_LEAK_EXAMPLES of them,
    HG_LEAK_EXAMPLE_BYTES bytes each (the group's size alone would not
    tell a swap of the two)."""
    ex = heapgrab._LeakGroup.examples
    assert ex.size == heapgrab._LEAK_EXAMPLES * (8 + 8 + heapgrab._LEAK_EXAMPLE_BYTES)


@pytest.mark.parametrize("mirror", mirrors(), ids=lambda m: m.__name__)
def test_mirror_matches_header(mirror, header):
    c_name = getattr(mirror, "_c_struct_", None)
    assert c_name, f"{mirror.__name__} does not say which C struct it mirrors (_c_struct_)"
    assert c_name in header, f"{c_name} is not in struct_layout.c: add it there"
    c = header[c_name]
    fields = {name: [getattr(mirror, name).offset, getattr(mirror, name).size]
              for name, *_ in mirror._fields_}
    assert list(fields) == list(c["fields"]), f"{c_name}: fields differ"
    assert fields == c["fields"], f"{c_name}: offsets or sizes differ"
    assert ctypes.sizeof(mirror) == c["size"], f"{c_name}: size differs"


def test_totals_are_the_librarys_list(header):
    names = heapgrab.totals_fields()
    assert names == list(header["hg_totals"]["fields"])
    assert len(names) == len(set(names)) > 0


def test_locate_modes_are_the_headers(header):
    """heapgrab.LOCATE mirrors enum hg_locate: HG_LOCATE_<NAME> = value."""
    values = header["enum hg_locate"]["values"]
    assert heapgrab.LOCATE == {n[len("HG_LOCATE_"):].lower(): v for n, v in values.items()}


def test_states_are_the_librarys_names():
    """heapgrab.STATES mirrors enum hg_state: the library names each."""
    lib = heapgrab._load()
    lib.hg_state_name.restype = ctypes.c_char_p
    lib.hg_state_name.argtypes = [ctypes.c_int]
    names = [lib.hg_state_name(i).decode() for i in range(len(heapgrab.STATES) + 1)]
    assert names == heapgrab.STATES + ["unknown"]
