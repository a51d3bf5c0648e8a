"""The built wheel installs into a fresh virtual environment where napari finds the plugin.

Steps: build the wheel (``python -m build --wheel --no-isolation``; hatchling must be installed),
create a fresh venv without pip, install only the wheel (``pip --python NEWVENV install --no-deps``)
and let that venv borrow the dependencies (napari, torch, ...) of the test interpreter through a
``.pth`` line appended *after* its own site-packages. The checks then prove that the package is
imported from the new venv (not the editable source tree), that npe2 discovers the manifest and
imports every python_name, that the MNIST resource ships inside the installed package, and that
the console script runs.
"""

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

CHECK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import napari_mpi_dl
    from napari_mpi_dl._resources import resource_path
    from napari_mpi_dl.phantoms.mnist import load_mnist_digits
    import npe2
    manifest = npe2.PluginManifest.from_distribution("napari-mpi-dl")
    manifest.validate_imports()
    pm = npe2.PluginManager()
    pm.discover(include_npe1=False)
    discovered = pm.get_manifest("napari-mpi-dl")
    print(json.dumps({
        "package_file": napari_mpi_dl.__file__,
        "resource": str(resource_path("mnist_1600.npz")),
        "n_digits": len(load_mnist_digits()),
        "commands": sorted(c.id for c in manifest.contributions.commands or []),
        "discovered_widgets": [w.display_name for w in discovered.contributions.widgets or []],
    }))
    """
)


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    pytest.importorskip("hatchling", reason="wheel test needs hatchling for --no-isolation builds")
    pytest.importorskip("build")
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
          str(tmp / "dist"), str(ROOT)], cwd=ROOT)
    (wheel,) = (tmp / "dist").glob("napari_mpi_dl-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "--quiet", str(wheel)])
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", purelib]).strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_borrowed_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return {"wheel": wheel, "venv": venv, "python": python, "site": site}


def test_wheel_contains_manifest_and_resources(installed):
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "napari_mpi_dl/napari.yaml" in names
    assert "napari_mpi_dl/resources/mnist_1600.npz" in names
    assert "napari_mpi_dl/resources/README.md" in names
    assert not [n for n in names if n.startswith("tests/")]


def test_installed_plugin_is_discovered_and_loads_resources(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    out = _run([str(installed["python"]), "-c", CHECK], cwd=tmp_path, env=env)
    info = json.loads(out.strip().splitlines()[-1])
    site = installed["site"].resolve()
    assert Path(info["package_file"]).resolve().is_relative_to(site), info["package_file"]
    assert Path(info["resource"]).resolve().is_relative_to(site), info["resource"]
    assert info["n_digits"] == 1600
    assert "napari-mpi-dl.simulator_widget" in info["commands"]
    assert "MPI simulator" in info["discovered_widgets"]
    help_text = _run([str(installed["venv"] / "bin" / "napari-mpi-dl"), "--help"], cwd=tmp_path,
                     env=env)
    assert "simulate" in help_text and "dataset" in help_text
