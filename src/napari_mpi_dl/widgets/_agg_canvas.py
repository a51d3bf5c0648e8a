"""Plots (loss curves, line profiles) drawn by matplotlib's Agg renderer in a worker thread and
shown as a picture.

A matplotlib Qt canvas draws in the GUI thread: importing matplotlib costs ~0.5-1 s when a dock
opens, its first draw (fonts, legend) a few hundred ms and every redraw tens of ms, which
stalls napari while a dock trains or a profile line is dragged. Here the
figure lives in one worker thread (only that thread touches it); each redraw renders it to an
RGBA buffer there and the GUI thread only swaps the label's pixmap (about a millisecond).

Only Qt and numpy are imported here; matplotlib is imported in the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from qtpy.QtCore import QSize, Qt, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel, QSizePolicy

#: ``setup(figure, ax) -> state``: labels, scales and persistent lines (worker thread, once).
Setup = Callable[[object, object], object]
#: ``draw(ax, state)``: put the newest data on the lines (worker thread).
Draw = Callable[[object, object], None]


class AggCanvas(QLabel):
    """A label showing a matplotlib figure rendered off the GUI thread.

    :meth:`draw` queues a redraw; while one renders, newer requests replace each other, so the
    newest data is drawn next and the renders never pile up.
    """

    _rendered = Signal(object)

    def __init__(self, setup: Setup, *, figsize=(3.5, 2.2), dpi: int = 100,
                 figure_kwargs: dict | None = None) -> None:
        super().__init__()
        self._figure_kwargs = dict(figure_kwargs or {})
        self._figsize, self._dpi = figsize, int(self._figure_kwargs.pop("dpi", dpi))
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(int(figsize[1] * self._dpi * 0.75))
        # the label asks for the figure's size and takes the width it gets (the picture is
        # rendered at that width); the pixmap itself never widens the dock
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self._setup = setup
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agg-canvas")
        self._figure = self._agg = self.ax = self._state = None
        self._busy = False
        self._pending: Draw | None = None
        self._last_draw: Draw | None = None
        self._future = None
        self.renders = 0
        self.render_thread: str | None = None  # the thread that drew the last picture
        self.last_error: BaseException | None = None
        self._rendered.connect(self._show)

    def draw(self, draw: Draw) -> None:
        """Redraw with ``draw(ax, state)`` in the worker (the newest request wins)."""
        self._last_draw = draw
        if self._busy:
            self._pending = draw
            return
        self._busy = True
        self._future = self._executor.submit(self._render, draw, self._target_inches())

    def _target_inches(self) -> tuple[float, float]:
        """The figure size that fills the label: its width, and its height once laid out (the
        configured aspect ratio before), so the picture is never cropped by a shorter label."""
        rect = self.contentsRect()
        width_px = max(rect.width(), int(self._figsize[0] * self._dpi * 0.5))
        aspect_px = width_px * self._figsize[1] / self._figsize[0]
        height_px = rect.height() if rect.height() >= self.minimumHeight() else aspect_px
        return width_px / self._dpi, min(height_px, aspect_px) / self._dpi

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(int(self._figsize[0] * self._dpi), int(self._figsize[1] * self._dpi))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(120, 80)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self._last_draw is not None and self._figure is not None:
            self.draw(self._last_draw)  # redrawn at the new width (coalesced)

    @property
    def busy(self) -> bool:
        """Whether a render is in flight (or queued behind one)."""
        return self._busy

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the render in flight has finished (tests, screenshots)."""
        if self._future is not None:
            self._future.result(timeout=timeout)

    # -- worker thread -------------------------------------------------------------------------
    def _render(self, draw: Draw, inches: tuple[float, float]) -> None:
        import threading

        self.render_thread = threading.current_thread().name
        try:
            if self._figure is None:
                from matplotlib.backends.backend_agg import FigureCanvasAgg
                from matplotlib.figure import Figure

                kwargs = {"figsize": self._figsize, "dpi": self._dpi, **self._figure_kwargs}
                self._figure = Figure(**kwargs)
                self._agg = FigureCanvasAgg(self._figure)
                self.ax = self._figure.add_subplot(111)
                self._state = self._setup(self._figure, self.ax)
            if tuple(np.round(self._figure.get_size_inches(), 3)) != tuple(np.round(inches, 3)):
                self._figure.set_size_inches(*inches)
            draw(self.ax, self._state)
            self._agg.draw()
            result = np.array(self._agg.buffer_rgba(), dtype=np.uint8, copy=True)
        except Exception as exc:  # noqa: BLE001 - shown in the GUI thread, never lost
            result = exc
        try:
            self._rendered.emit(result)
        except RuntimeError:  # the dock was closed while this rendered
            pass

    # -- GUI thread ----------------------------------------------------------------------------
    def _show(self, result) -> None:
        self._busy = False
        if isinstance(result, BaseException):
            self.last_error = result
            self.setText(f"plot failed: {result}")
        else:
            h, w = result.shape[:2]
            image = QImage(result.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
            self.setPixmap(QPixmap.fromImage(image))
            self.renders += 1
            target_w, target_h = (int(round(v * self._dpi)) for v in self._target_inches())
            if (self._pending is None and self._last_draw is not None
                    and (abs(w - target_w) > 4 or abs(h - target_h) > 4)):
                self._pending = self._last_draw  # the label changed size while this rendered
        if self._pending is not None:
            draw, self._pending = self._pending, None
            self.draw(draw)
