"""Helpers for the nox ``packaging`` session; standard library only (they run in a bare venv).

python scripts/packaging_checks.py requires DIST.whl   # its Requires-Dist, one per line
python scripts/packaging_checks.py import-all PACKAGE  # import every module of PACKAGE
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import zipfile
from email.parser import HeaderParser


def wheel_requirements(wheel_path: str) -> list[str]:
    """Unconditional Requires-Dist entries of a wheel (the ones a plain install pulls in)."""
    with zipfile.ZipFile(wheel_path) as wheel:
        metadata_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(wheel.read(metadata_name).decode("utf-8"))
    requirements = metadata.get_all("Requires-Dist") or []
    # Entries with a marker (extras, old Pythons) are not "declared for everyone".
    return [r.replace(" ", "") for r in requirements if ";" not in r]


def import_all(package_name: str) -> list[str]:
    """Import ``package_name`` and all its submodules; an undeclared dependency fails here."""
    package = importlib.import_module(package_name)
    imported = [package_name]
    for module in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
        if module.name.endswith(".__main__"):
            continue  # running it is the CLI's job; what it imports is imported by the rest
        importlib.import_module(module.name)
        imported.append(module.name)
    return imported


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("requires", "import-all"):
        print(__doc__, file=sys.stderr)
        return 2
    command, target = argv
    if command == "requires":
        print("\n".join(wheel_requirements(target)))
    else:
        print(f"imported {len(import_all(target))} modules of {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
