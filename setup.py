"""Build hook: wheels carry the top-level example playbooks as ``siyu_cli/data/playbooks``.

The playbooks live at the top of the repository for people to read and edit; `siyu init`
copies them into new workspaces, and in an installed siyu it finds them in the package
(see siyu_cli.workspace.example_playbooks_dir). Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithPlaybooks(build_py):
    def run(self):
        super().run()
        source = Path(__file__).resolve().parent / "playbooks"
        if source.is_dir() and not getattr(self, "editable_mode", False):
            shutil.copytree(source, Path(self.build_lib) / "siyu_cli" / "data" / "playbooks", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithPlaybooks})
