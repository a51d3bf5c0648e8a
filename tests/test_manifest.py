"""napari.yaml: every contribution points at a declared command whose python_name imports.

Generic: it reads whatever the manifest declares, so it keeps checking as entries are added.
``npe2 validate`` alone misses widgets/samples/menus that name undeclared commands.
"""

import importlib
import inspect
from pathlib import Path

import pytest

npe2 = pytest.importorskip("npe2")

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_PATH = ROOT / "napari.yaml"
PLUGIN = "napari-mpi-dl"


@pytest.fixture(scope="module")
def manifest():
    return npe2.PluginManifest.from_file(MANIFEST_PATH)  # raises on schema errors


def _resolve(python_name: str):
    module_name, _, attr_path = python_name.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


def _command_ids(manifest) -> set[str]:
    return {c.id for c in manifest.contributions.commands or []}


def test_manifest_is_the_one_the_package_ships(manifest):
    packaged = ROOT / "src" / "napari_mpi_dl" / "napari.yaml"
    assert packaged.read_text() == MANIFEST_PATH.read_text()
    assert manifest.name == PLUGIN
    installed = npe2.PluginManifest.from_distribution(PLUGIN)
    assert _command_ids(installed) == _command_ids(manifest)


def test_command_ids_are_unique_and_prefixed(manifest):
    ids = [c.id for c in manifest.contributions.commands or []]
    assert ids, "the manifest declares no commands"
    assert len(ids) == len(set(ids)), f"duplicate command ids: {ids}"
    assert all(i.startswith(f"{PLUGIN}.") for i in ids), ids


@pytest.mark.parametrize(
    "python_name",
    [c.python_name for c in npe2.PluginManifest.from_file(MANIFEST_PATH).contributions.commands
     or []],
)
def test_every_command_imports_and_is_callable(python_name):
    assert python_name, "command without python_name"
    obj = _resolve(python_name)
    assert callable(obj), f"{python_name} is not callable"


def test_every_contribution_names_a_declared_command(manifest):
    ids = _command_ids(manifest)
    contrib = manifest.contributions
    referenced = []
    for kind in ("widgets", "readers", "writers"):
        referenced += [(kind, item.command) for item in getattr(contrib, kind) or []]
    for sample in contrib.sample_data or []:
        if getattr(sample, "command", None) is not None:  # uri samples name no command
            referenced.append(("sample_data", sample.command))
    submenus = {s.id for s in contrib.submenus or []}
    for menu_id, items in (contrib.menus or {}).items():
        for item in items:
            if getattr(item, "command", None) is not None:
                referenced.append((f"menus[{menu_id}]", item.command))
            else:
                assert item.submenu in submenus, f"menu {menu_id}: undeclared submenu {item}"
    missing = [(kind, cmd) for kind, cmd in referenced if cmd not in ids]
    assert not missing, f"contributions naming undeclared commands: {missing}"
    assert any(kind == "widgets" for kind, _ in referenced)


def test_widget_classes_receive_the_viewer_by_a_name_napari_knows(manifest):
    ids = {c.id: c.python_name for c in manifest.contributions.commands or []}
    for widget in manifest.contributions.widgets or []:
        obj = _resolve(ids[widget.command])
        if not inspect.isclass(obj):
            continue  # magicgui functions are wrapped by napari
        params = list(inspect.signature(obj.__init__).parameters.values())[1:]  # drop self
        for p in params:
            ok = (p.name == "napari_viewer" or p.annotation in ("napari.viewer.Viewer",)
                  or p.default is not inspect.Parameter.empty
                  or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
            assert ok, f"{obj.__name__}: parameter {p.name!r} cannot be filled by napari"


def test_readers_and_writers_declare_what_they_handle(manifest):
    for reader in manifest.contributions.readers or []:
        assert reader.filename_patterns, f"reader {reader.command} has no filename_patterns"
    for writer in manifest.contributions.writers or []:
        assert writer.layer_types, f"writer {writer.command} has no layer_types"


@pytest.mark.parametrize(
    "sample",
    [s for s in npe2.PluginManifest.from_file(MANIFEST_PATH).contributions.sample_data or []
     if getattr(s, "command", None)],
    ids=lambda s: s.key,
)
def test_every_sample_returns_layer_data(sample, manifest):
    ids = {c.id: c.python_name for c in manifest.contributions.commands or []}
    layers = _resolve(ids[sample.command])()
    assert isinstance(layers, list) and layers, f"sample {sample.key} returned {layers!r}"
    for layer in layers:
        assert isinstance(layer, tuple) and 1 <= len(layer) <= 3
        assert getattr(layer[0], "shape", None), f"sample {sample.key}: data without a shape"
        if len(layer) == 3:
            assert layer[2] in ("image", "labels", "points", "shapes", "surface", "tracks",
                                "vectors")
