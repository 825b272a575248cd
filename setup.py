"""The build step that puts the shipped resources into the wheel (DESIGN §3).

shaders/, presets/ and web/ stay at the repository's top level; building the
package copies them to livecppn/_data/, where livecppn/paths.py finds them in an
installed package. An editable install (`pip install -e .`) copies nothing:
paths.py then finds the checkout's own folders. Everything else about the
package is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = ("shaders", "presets", "web")


class BuildWithResources(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        for name in RESOURCES:
            self.copy_tree(str(Path(__file__).parent / name), str(Path(self.build_lib) / "livecppn" / "_data" / name))


setup(cmdclass={"build_py": BuildWithResources})
