"""A PEP 517 build backend for the heapgrab Python package, small enough to
live in the tree: pip builds the wheel with nothing downloaded (setuptools
would have to come from PyPI into pip's isolated build environment).

The package is pure Python: the wheel is heapgrab/*.py plus the
.dist-info files the wheel format asks for (METADATA, WHEEL, RECORD).  The
sdist is pyproject.toml, this backend and the package.
"""
import base64
import hashlib
import io
import os
import tarfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11: the two keys needed, read plainly
    tomllib = None

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "heapgrab"


def _project():
    path = os.path.join(HERE, "pyproject.toml")
    if tomllib:
        with open(path, "rb") as f:
            return tomllib.load(f)["project"]
    project, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[project]" and "=" in line and line.split("=")[0].strip() in ("name", "version", "description", "requires-python"):
                k, v = line.split("=", 1)
                project[k.strip()] = v.strip().strip('"')
    return project


def _sources():
    """The package's files, relative to HERE, sorted (a reproducible wheel)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(HERE, PACKAGE)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            # _paths.py is written by `cmake --install` for the copy it installs
            if name.endswith(".py") and name != "_paths.py":
                out.append(os.path.relpath(os.path.join(dirpath, name), HERE))
    return out


def _metadata(p):
    return (f"Metadata-Version: 2.1\nName: {p['name']}\nVersion: {p['version']}\n"
            f"Summary: {p.get('description', '')}\nRequires-Python: {p.get('requires-python', '>=3')}\n")


def _digest(data):
    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={h},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    p = _project()
    info = f"{p['name']}-{p['version']}.dist-info"
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "w") as f:
        f.write(_metadata(p))
    return info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    p = _project()
    name = f"{p['name']}-{p['version']}-py3-none-any.whl"
    info = f"{p['name']}-{p['version']}.dist-info"
    files = []
    for rel in _sources():
        with open(os.path.join(HERE, rel), "rb") as f:
            files.append((rel.replace(os.sep, "/"), f.read()))
    files.append((f"{info}/METADATA", _metadata(p).encode()))
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: heapgrab_build\n"
                  b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    record = "".join(f"{path},{_digest(data)}\n" for path, data in files) + f"{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files:
            z.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return name


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = f"{p['name']}-{p['version']}"
    name = f"{base}.tar.gz"
    rels = ["pyproject.toml", "build_backend/heapgrab_build.py"] + _sources()
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in rels:
            t.add(os.path.join(HERE, rel), arcname=f"{base}/{rel}")
        pkg_info = _metadata(p).encode()
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(pkg_info)
        t.addfile(ti, io.BytesIO(pkg_info))
    return name
