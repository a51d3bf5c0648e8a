"""Line-profile dock widget: live, width-averaged profiles of several image layers along the
lines of a Shapes layer, with peaks, FWHM, separation, dip and the resolved verdict per line and
layer.

Thin: sampling and analysis are :mod:`napari_mpi_dl.analysis.profiles`. Updates are event driven
(no polling): the Shapes layer's ``data`` events, a mouse-drag callback while a line is drawn or
dragged, the image layers' ``data``/``scale``/``translate`` events and the layer list's events all
schedule one coalesced refresh (a zero-delay single-shot timer), which re-samples the profiles and
updates existing plot lines in place.

Geometry: line vertices are taken to world coordinates with the Shapes layer's transform and the
images are sampled with their ``scale`` and ``translate`` (rotation/shear/affine are not
supported); with the package's layers, world units are millimetres.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_mpi_dl.analysis.profile_table import TABLE_COLUMNS, profile_record
from napari_mpi_dl.analysis.profiles import (
    DEFAULT_DIP_THRESHOLD,
    LineProfile,
    ProfileAnalysis,
    analyse_profile,
    sample_profile,
)
from napari_mpi_dl.widgets._jobs import warm_up
from napari_mpi_dl.widgets._layers import current_plane

LINES_LAYER_NAME = "Profile lines"
LINE_STYLES = ("-", "--", ":", "-.")
SHOWN_COLUMNS = (("line", "Line"), ("layer", "Layer"), ("fwhm", "FWHM (mm)"),
                 ("separation_mm", "Sep. (mm)"), ("dip", "Dip"), ("resolved", "Resolved"),
                 ("error", "Note"))


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{value:.3f}"
    return str(value)


MERGED = "- (merged)"  # one peak: the tubes are not separated
OVERLAP = "- (overlap)"  # the neighbouring peak rises before the half maximum is reached
FWHM_HELP = ("FWHM of the two main peaks in mm. '- (merged)': only one peak, the tubes merge; "
             "'- (overlap)': the peaks overlap above half their maximum, so no FWHM exists")


def fwhm_text(rec: dict) -> str:
    """The FWHM cell: ``a / b`` mm, or why a width is missing (see :data:`FWHM_HELP`)."""
    if rec.get("n_peaks") is None:
        return ""
    parts = []
    for i in (1, 2):
        if rec[f"peak{i}_mm"] is None:
            if i == 2:
                parts.append(MERGED)
        elif rec[f"fwhm{i}_mm"] is None:
            parts.append(OVERLAP)
        else:
            parts.append(f"{rec[f'fwhm{i}_mm']:.3f}")
    return " / ".join(parts)


@dataclass
class ProfileEntry:
    """One (line, layer) result: the profile and its analysis, or the reason there is none."""

    line: str
    layer: str
    profile: LineProfile | None = None
    analysis: ProfileAnalysis | None = None
    error: str = ""

    def record(self) -> dict:
        """Table row as plain values (``None`` where not available)."""
        return profile_record(self.line, self.layer, self.analysis, self.error)


class ProfileWidget(QWidget):
    """Dock widget: profiles of the checked image layers along every line of a Shapes layer."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent=None) -> None:  # noqa: F821
        super().__init__(parent)
        self.viewer = napari_viewer
        self.entries: list[ProfileEntry] = []
        self._lines_layer = None
        self._watched_images: set = set()
        self._plotted: list = []
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.update_profiles)
        self._build_ui()
        layers = self.viewer.layers.events
        layers.inserted.connect(self._on_layers_changed)
        layers.removed.connect(self._on_layers_changed)
        layers.reordered.connect(self._on_layers_changed)
        self.viewer.dims.events.current_step.connect(self.schedule_update)
        self._refresh_layer_lists()
        # the first lines layer imports pandas (napari's shape features): do it off the GUI thread
        self._warm = warm_up((), layers=("shapes",))

    # ---------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        from napari_mpi_dl.widgets._agg_canvas import AggCanvas

        outer = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.lines_combo = QComboBox()
        self.lines_combo.currentIndexChanged.connect(self._on_lines_combo)
        self.new_lines_button = QPushButton("New lines layer")
        self.new_lines_button.clicked.connect(lambda: self.use_lines_layer(None))
        row.addWidget(self.lines_combo, 1)
        row.addWidget(self.new_lines_button)
        form.addRow("Lines", row)
        self.image_list = QListWidget()
        self.image_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.image_list.setMaximumHeight(90)
        self.image_list.itemChanged.connect(lambda _item: self.schedule_update())
        form.addRow("Images", self.image_list)
        self.width_spin = QSpinBox()
        self.width_spin.setRange(1, 51)
        self.width_spin.setSuffix(" px")
        self.width_spin.valueChanged.connect(lambda _v: self.schedule_update())
        form.addRow("Width", self.width_spin)
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, 1.0)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setValue(DEFAULT_DIP_THRESHOLD)
        self.threshold_spin.valueChanged.connect(lambda _v: self.schedule_update())
        form.addRow("Dip threshold", self.threshold_spin)
        self.all_planes = QCheckBox("all planes of stacks (else the plane shown)")
        self.all_planes.toggled.connect(lambda _v: self.schedule_update())
        form.addRow(self.all_planes)
        outer.addLayout(form)
        # matplotlib imports and draws in the canvas's worker thread (the dock opens at once and
        # dragging a line does not wait for the plot)
        self.plot_canvas = AggCanvas(_setup_profile_axes, figsize=(4, 2.6),
                                     figure_kwargs={"tight_layout": True})
        self.plot_canvas.setMinimumHeight(180)
        outer.addWidget(self.plot_canvas, 1)
        # a narrow dock: the columns share its width (no horizontal scrolling); peak positions
        # are in each row's tooltip and in the CSV export
        self.table = QTableWidget(0, len(SHOWN_COLUMNS))
        self.table.setHorizontalHeaderLabels([title for _key, title in SHOWN_COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        for c, (key, _title) in enumerate(SHOWN_COLUMNS):
            mode = (QHeaderView.ResizeMode.Stretch if key in ("layer", "fwhm")
                    else QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(c, mode)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeaderItem(2).setToolTip(FWHM_HELP)
        outer.addWidget(self.table, 1)
        self.export_button = QPushButton("Export CSV...")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.status = QLabel("Draw lines on the 'Profile lines' layer.")
        self.status.setWordWrap(True)
        outer.addWidget(self.export_button)
        outer.addWidget(self.status)

    # ---------------------------------------------------------------- layers
    def _image_layers(self) -> list:
        from napari.layers import Image

        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _shapes_layers(self) -> list:
        from napari.layers import Shapes

        return [layer for layer in self.viewer.layers if isinstance(layer, Shapes)]

    def _on_layers_changed(self, event=None) -> None:
        self._refresh_layer_lists()
        self.schedule_update()

    def _refresh_layer_lists(self) -> None:
        checked = {self.image_list.item(i).text()
                   for i in range(self.image_list.count())
                   if self.image_list.item(i).checkState() == Qt.CheckState.Checked}
        known = {self.image_list.item(i).text() for i in range(self.image_list.count())}
        self.image_list.blockSignals(True)
        self.image_list.clear()
        for layer in self._image_layers():
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = layer.name in checked or layer.name not in known  # new layers start checked
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.image_list.addItem(item)
        self.image_list.blockSignals(False)
        self._watch_images()
        self.lines_combo.blockSignals(True)
        self.lines_combo.clear()
        for layer in self._shapes_layers():
            self.lines_combo.addItem(layer.name)
        if self._lines_layer is not None and self._lines_layer in self.viewer.layers:
            self.lines_combo.setCurrentText(self._lines_layer.name)
        elif self._lines_layer is not None:
            self._lines_layer = None
        self.lines_combo.blockSignals(False)
        if self._lines_layer is None and self.lines_combo.count():
            self._on_lines_combo(self.lines_combo.currentIndex())

    def _watch_images(self) -> None:
        for layer in self._image_layers():
            if id(layer) in self._watched_images:
                continue
            for name in ("data", "scale", "translate"):
                getattr(layer.events, name).connect(self.schedule_update)
            self._watched_images.add(id(layer))

    def _on_lines_combo(self, index: int) -> None:
        if index < 0:
            return
        name = self.lines_combo.itemText(index)
        if name in self.viewer.layers:
            self._attach_lines(self.viewer.layers[name])

    def checked_image_layers(self) -> list:
        names = {self.image_list.item(i).text() for i in range(self.image_list.count())
                 if self.image_list.item(i).checkState() == Qt.CheckState.Checked}
        return [layer for layer in self._image_layers() if layer.name in names]

    def set_checked(self, names: list[str]) -> None:
        """Check exactly the image layers in ``names`` (the others are unchecked)."""
        self.image_list.blockSignals(True)
        for i in range(self.image_list.count()):
            item = self.image_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names
                               else Qt.CheckState.Unchecked)
        self.image_list.blockSignals(False)
        self.schedule_update()

    @property
    def lines_layer(self):
        """The Shapes layer whose lines are profiled (created on first use)."""
        if self._lines_layer is None or self._lines_layer not in self.viewer.layers:
            self.use_lines_layer(None)
        return self._lines_layer

    def use_lines_layer(self, layer=None):
        """Profile the lines of ``layer``; ``None`` creates a new, empty lines layer."""
        if layer is None:
            ndim = max([lay.ndim for lay in self._image_layers()] + [2])
            kwargs = {}
            images = self._image_layers()
            if images:  # same world units (mm) as the images: the scale bar keeps its unit
                ref = next(lay for lay in images if lay.ndim == ndim)
                kwargs = {"scale": ref.scale, "translate": ref.translate, "units": ref.units}
            layer = self.viewer.add_shapes(
                ndim=ndim, name=LINES_LAYER_NAME, shape_type="line", edge_color="red",
                edge_width=0.3,  # thin but visible at the default zoom
                features={"name": np.array([], dtype=object)},
                text={"string": "{name}", "color": "red", "anchor": "upper_left", "size": 9},
                **kwargs,
            )
            layer.mode = "add_line"
        self._attach_lines(layer)
        self._refresh_layer_lists()
        return layer

    def _attach_lines(self, layer) -> None:
        if layer is self._lines_layer:
            return
        old = self._lines_layer
        if old is not None:
            old.events.data.disconnect(self._on_lines_data)
            if self.follow_drag in old.mouse_drag_callbacks:
                old.mouse_drag_callbacks.remove(self.follow_drag)
        self._lines_layer = layer
        layer.events.data.connect(self._on_lines_data)
        layer.mouse_drag_callbacks.append(self.follow_drag)
        self.schedule_update()

    @property
    def refresh_pending(self) -> bool:
        """Whether a refresh of the table and plot is scheduled but has not run yet."""
        return self._refresh_timer.isActive()

    def plotted(self) -> list:
        """Keys (line, layer) of the profiles in the plot (its latest update)."""
        return list(self._plotted)

    def _on_lines_data(self, event=None) -> None:
        action = str(getattr(event, "action", ""))
        if action.endswith("added") or action.endswith("ADDED"):
            self._name_new_lines()
        self.schedule_update()

    def follow_drag(self, layer, event):
        """napari mouse-drag callback of the lines layer: refresh while a line is drawn or
        dragged (napari edits vertices without data events)."""
        yield
        while event.type == "mouse_move":
            self.schedule_update()
            yield
        self.schedule_update()

    def _name_new_lines(self) -> None:
        layer = self._lines_layer
        if layer is None or "name" not in layer.features.columns:
            return
        names = layer.features["name"].astype(object).tolist()
        # new shapes inherit napari's feature defaults (often the previous name): rename
        # empty and repeated names
        used = {n for n in names if isinstance(n, str) and n}
        seen: set = set()
        changed = False
        k = 1
        for i, n in enumerate(names):
            if not (isinstance(n, str) and n) or n in seen:
                while f"line {k}" in used:
                    k += 1
                names[i] = f"line {k}"
                used.add(names[i])
                changed = True
            seen.add(names[i])
        if changed:
            features = layer.features.copy()
            features["name"] = names
            layer.features = features
            layer.refresh_text()

    def line_names(self) -> list[str]:
        layer = self._lines_layer
        if layer is None:
            return []
        n = len(layer.data)
        names = [f"line {i + 1}" for i in range(n)]
        if "name" in layer.features.columns and len(layer.features) == n:
            for i, value in enumerate(layer.features["name"].tolist()):
                if isinstance(value, str) and value:
                    names[i] = value
        return names

    # ---------------------------------------------------------------- computation
    def schedule_update(self, event=None) -> None:
        """Coalesce many events into one refresh on the next turn of the event loop."""
        try:
            self._refresh_timer.start()
        except RuntimeError:  # the dock was closed and its Qt objects deleted
            pass

    def _world_segments(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        layer = self._lines_layer
        if layer is None:
            return []
        out = []
        for name, shape_type, vertices in zip(self.line_names(), layer.shape_type, layer.data,
                                              strict=False):
            if shape_type != "line":
                continue
            world = np.array([layer.data_to_world(v) for v in np.asarray(vertices)])
            out.append((name, world[0, -2:], world[-1, -2:]))
        return out

    def compute_entries(self) -> list[ProfileEntry]:
        """Profiles and analyses for every (line, checked image layer)."""
        entries = []
        width = int(self.width_spin.value())
        threshold = float(self.threshold_spin.value())
        for line_name, start, end in self._world_segments():
            for layer in self.checked_image_layers():
                for label, plane in self._planes(layer):
                    entry = ProfileEntry(line=line_name, layer=label)
                    try:
                        if plane is None:
                            raise ValueError(f"layer {layer.name!r} is RGB: profiles need a "
                                             "single-channel (grey-scale) image")
                        prof = sample_profile(plane, start, end, width_px=width,
                                              scale=layer.scale[-2:],
                                              translate=layer.translate[-2:])
                        entry.profile = prof
                        entry.analysis = analyse_profile(prof.distance_mm, prof.values,
                                                         threshold=threshold)
                    except ValueError as exc:
                        entry.error = str(exc)
                    entries.append(entry)
        return entries

    def _planes(self, layer) -> list[tuple[str, np.ndarray | None]]:
        """``(label, 2D plane)`` of a layer: the plane shown now, or every plane of a stack when
        "all planes" is checked; an RGB layer gives ``(name, None)``."""
        if layer.rgb:
            return [(layer.name, None)]
        data = np.asarray(layer.data)
        if data.ndim == 2:
            return [(layer.name, data)]
        if self.all_planes.isChecked():
            indices = list(np.ndindex(data.shape[:-2]))
        else:
            indices = [current_plane(self.viewer, layer)]
        return [(f"{layer.name} [{', '.join(str(i) for i in idx)}]", data[idx])
                for idx in indices]

    def update_profiles(self) -> None:
        """Recompute, re-plot (artists updated in place) and refill the table."""
        self._refresh_timer.stop()
        self.entries = self.compute_entries()
        self._update_plot()
        self._update_table()
        n_err = sum(1 for e in self.entries if e.error)
        self.status.setText(f"{len(self.entries)} profile(s)"
                            + (f", {n_err} with a note" if n_err else ""))

    def _update_plot(self) -> None:
        layer_names = list(dict.fromkeys(e.layer for e in self.entries))  # planes too
        line_names = sorted({e.line for e in self.entries}, key=self.line_names().index
                            if self._lines_layer is not None else None)
        curves = {}
        for entry in self.entries:
            if entry.profile is None:
                continue
            colour = f"C{layer_names.index(entry.layer) % 10}"
            style = LINE_STYLES[line_names.index(entry.line) % len(LINE_STYLES)]
            curves[(entry.line, entry.layer)] = (
                np.asarray(entry.profile.distance_mm), np.asarray(entry.profile.normalised()),
                colour, style, f"{entry.line}: {entry.layer}")
        self._plotted = list(curves)
        self.plot_canvas.draw(lambda ax, artists: _draw_profiles(ax, artists, curves))

    def _update_table(self) -> None:
        self.table.setRowCount(len(self.entries))
        for r, entry in enumerate(self.entries):
            rec = entry.record()
            tip = "  ".join(f"{k} = {_fmt(rec[k])}" for k in TABLE_COLUMNS
                            if rec[k] is not None and k not in ("line", "layer", "error"))
            for c, (key, _title) in enumerate(SHOWN_COLUMNS):
                text = fwhm_text(rec) if key == "fwhm" else _fmt(rec[key])
                item = QTableWidgetItem(text)
                item.setToolTip(tip if key != "error" else (rec["error"] or tip))
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()

    # ---------------------------------------------------------------- export
    def table_records(self) -> list[dict]:
        return [e.record() for e in self.entries]

    def export_csv(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write the table to ``path`` and the samples to ``<stem>_samples.csv`` (atomically).

        The table has :data:`TABLE_COLUMNS` (empty cells where not available, full precision).
        The samples file has ``line, layer, distance_mm, value, normalised``.
        """
        from napari_mpi_dl.analysis.profile_table import sample_rows, write_profile_csvs

        self.update_profiles()
        samples = [row for e in self.entries if e.profile is not None
                   for row in sample_rows(e.line, e.layer, e.profile)]
        path, samples_path = write_profile_csvs(path, self.table_records(), samples)
        self.status.setText(f"wrote {path} and {samples_path.name}")
        return path, samples_path

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export profiles", "profiles.csv",
                                              "CSV (*.csv)")
        if path:
            self.export_csv(path)


def _setup_profile_axes(figure, ax) -> dict:
    """Axes of the profile plot (canvas worker thread); returns the artists by (line, layer)."""
    ax.set_xlabel("distance (mm)")
    ax.set_ylabel("normalised")
    ax.set_ylim(-0.05, 1.05)
    return {}


def _draw_profiles(ax, artists: dict, curves: dict) -> None:
    """Update the artists in place to ``curves`` {(line, layer): (x, y, colour, style, label)}
    (canvas worker thread)."""
    for key, (x, y, colour, style, label) in curves.items():
        artist = artists.get(key)
        if artist is None:
            (artists[key],) = ax.plot(x, y, color=colour, linestyle=style, label=label)
        else:
            artist.set_data(x, y)
            artist.set_color(colour)
            artist.set_linestyle(style)
    for key in list(artists):
        if key not in curves:
            artists.pop(key).remove()
    if artists:
        xmax = max(a.get_xdata()[-1] for a in artists.values())
        ax.set_xlim(0, xmax if xmax > 0 else 1)
        ax.legend(fontsize=6, loc="best", framealpha=0.6)
    elif ax.get_legend() is not None:
        ax.get_legend().remove()
