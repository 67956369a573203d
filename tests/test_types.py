"""The type checker, run as part of the suite: the package and the dashboard type-check clean ([tool.mypy] in
pyproject.toml; the code written since the checker came is held to its strict rules)."""

import subprocess
import sys

from recovery_model.paths import PROJECT_ROOT


def test_the_package_and_the_dashboard_type_check(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
