"""Build the deployment package: a zip in the layout Azure Functions runs from (run-from-package).

    python -m devtools.package [--output dist/dynamics-connector.zip]

The zip holds `host.json`, `requirements.txt`, `shared/` and every function folder (less what
`.funcignore` keeps out), and the runtime dependencies under `.python_packages/lib/site-packages`,
installed from `requirements.lock` (every package pinned, transitive ones included, each file
checked against its hash) as wheels for CPython 3.11 on Linux x86-64 (manylinux, glibc 2.28 or
newer), whatever machine builds it. Development dependencies never enter it: only the lock
file, compiled from `requirements.txt`, is installed.

Every module is compiled ahead (`.pyc`, hash-based and unchecked): the package is mounted
read-only, so a worker could not write the byte code it would otherwise compile on each start.
"""

from __future__ import annotations

import argparse
import compileall
import fnmatch
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "dist" / "dynamics-connector.zip"
LOCK_FILE = "requirements.lock"
SITE_PACKAGES = ".python_packages/lib/site-packages"
# The Linux images of the Python 3.11 worker have glibc 2.28 or newer.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
TOP_LEVEL_FILES = ("host.json", "requirements.txt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the run-from-package zip of the function app.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    output = build(args.output)
    print(f"{output} ({output.stat().st_size / 1_048_576:.1f} MiB)")
    return 0


def build(output: Path, *, root: Path = ROOT) -> Path:
    """Write the package to `output` and return it."""
    if sys.version_info[:2] != (3, 11):
        raise SystemExit("build the package with Python 3.11: its byte code must match the worker's")
    with tempfile.TemporaryDirectory(prefix="package-") as scratch:
        staging = Path(scratch) / "app"
        for relative in app_files(root):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / relative, target)
        install_dependencies(root / LOCK_FILE, staging / SITE_PACKAGES)
        # Hash-based byte code stays valid in a zip, whose timestamps are rounded to 2 s.
        if not compileall.compile_dir(staging, quiet=2, workers=0,
                                      invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH):
            raise SystemExit("a module of the package does not compile")
        output.parent.mkdir(parents=True, exist_ok=True)
        _zip(staging, output)
    return output


def app_files(root: Path) -> list[Path]:
    """The app's own files, relative to `root`: host.json, requirements.txt, shared/ and the
    function folders, less what `.funcignore` keeps out."""
    patterns = [line.strip() for line in (root / ".funcignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    folders = ["shared", *sorted(path.parent.name for path in root.glob("*/function.json"))]
    candidates = [Path(name) for name in TOP_LEVEL_FILES]
    for folder in folders:
        candidates += sorted(path.relative_to(root) for path in (root / folder).rglob("*") if path.is_file())
    return [path for path in candidates if not ignored(path.as_posix(), patterns)]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether `.funcignore` (gitignore-style: `name`, `dir/`, globs) keeps `path` out."""
    parts = path.split("/")
    for pattern in patterns:
        name = pattern.rstrip("/")
        candidates = parts[:-1] if pattern.endswith("/") else parts
        if any(fnmatch.fnmatch(part, name) for part in candidates) or fnmatch.fnmatch(path, name):
            return True
    return False


def install_dependencies(lock_file: Path, target: Path) -> None:
    """pip installs the lock file's wheels for the worker's platform into `target`."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--require-hashes", "--only-binary=:all:", *platforms, "--python-version", "3.11",
         "--implementation", "cp", "--abi", "cp311", "--no-compile", "--target", str(target), "-r", str(lock_file)],
        check=True,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts of the build machine's Python


def _zip(staging: Path, output: Path) -> None:
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(staging).as_posix())
    partial.replace(output)


if __name__ == "__main__":
    sys.exit(main())
