"""Which files the wheel carries; the metadata is in pyproject.toml.

The scenario library, the workshop notebooks, the examples and the exercises stay at the top of the
checkout, where a clone's users, the docs and the tests look for them; the
wheel carries them inside the package (`meshsim/scenarios/`,
`meshsim/notebooks/`, `meshsim/examples/`, `meshsim/exercises/`), where an installed meshsim finds them
(meshsim/library.py). pyproject.toml alone cannot map a directory outside the
package into it while still finding the packages themselves, hence this file.
"""

from setuptools import find_packages, setup

SHIPPED = {
    "meshsim.scenarios": "scenarios",
    "meshsim.notebooks": "notebooks",
    "meshsim.examples": "examples",
    "meshsim.exercises": "exercises",
}

setup(
    packages=find_packages(include=["meshsim", "meshsim.*", "sample_services", "sample_services.*"])
    + list(SHIPPED),
    package_dir=SHIPPED,
)
