"""The documentation site builds with no warning (a broken link or a page missing from the nav fails it), and
the README stays short enough to read in two minutes."""

import subprocess
import sys

import pytest

from recovery_model.errors import RecoveryError
from recovery_model.extras import require
from tests.conftest import ROOT


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "model" / "index.html").is_file()


def test_the_readme_is_short_and_links_into_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 250
    for page in ("dashboard", "cli", "model", "trust", "data", "health-system", "performance", "development"):
        assert f"docs/{page}.md" in readme and (ROOT / "docs" / f"{page}.md").is_file()


def test_a_missing_extra_is_named_with_the_command_that_installs_it():
    with pytest.raises(RecoveryError, match=r"needs the 'cluster' extra.*pip install 'recovery-model\[cluster\]'"):
        require("no_such_module.part", "cluster", "--engine dask")
