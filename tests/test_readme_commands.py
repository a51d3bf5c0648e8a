"""The README's set-up commands are the ones CI runs, and the files they name exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [line.strip() for line in text.splitlines() if line.startswith("python3 -m venv .venv")]


def test_readme_has_a_demo_and_a_test_command():
    commands = readme_commands()
    assert any(c.endswith("napari-mpi-dl demo --out demo_out") for c in commands), commands
    assert any(c.endswith("python -m pytest") for c in commands), commands


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = next(c for c in readme_commands() if c.endswith("python -m pytest"))
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_system_packages_and_constraints_are_shared():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-packages.txt" in readme and "apt-packages.txt" in ci
    packages = (ROOT / "apt-packages.txt").read_text().split()
    assert {"xvfb", "libxcb-cursor0", "libgl1"} <= set(packages)
    pins = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==\d+\.\d+\.\d+$", pins, flags=re.M)
    for command in readme_commands():
        assert "PIP_CONSTRAINT=constraints.txt" in command


def test_step_0_works_as_root_without_sudo_like_ci():
    """README step 0 uses sudo only when not root, with the same line as .ci/run."""
    readme = (ROOT / "README.md").read_text().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    choose = next(line for line in ci if line.startswith('SUDO=""'))
    assert choose in readme
    step0 = next(line for line in readme if "apt-get install" in line)
    assert step0.startswith("$SUDO apt-get update") and "$SUDO apt-get install" in step0
    assert not any(line.startswith("sudo ") for line in readme)
