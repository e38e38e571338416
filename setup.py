"""Package discovery: biosim's four roots (``biosim/``, ``rules/``, ``networks/``, ``physical/``) install as
``biosim``, ``biosim.rules``, ``biosim.networks`` and ``biosim.physical`` with every subpackage found below them,
so adding a family or rule folder needs no edit here. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

ROOTS = {"biosim": "biosim", "biosim.rules": "rules", "biosim.networks": "networks", "biosim.physical": "physical"}
package_dir = {}
for package, path in ROOTS.items():
    package_dir[package] = path
    for sub in find_packages(path):
        package_dir[f"{package}.{sub}"] = f"{path}/{sub.replace('.', '/')}"
setup(packages=sorted(package_dir), package_dir=package_dir)
