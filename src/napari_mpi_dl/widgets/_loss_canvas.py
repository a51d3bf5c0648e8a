"""Loss curves drawn by matplotlib's Agg renderer in a worker thread and shown as a picture.

A matplotlib Qt canvas draws in the GUI thread: its first draw (fonts, legend) costs a few
hundred ms and every redraw tens of ms, which stalls napari while a dock trains. Here the
figure lives in one worker thread (only that thread touches it); each redraw renders it to an
RGBA buffer there and the GUI thread only swaps the label's pixmap (about a millisecond).

Only Qt and numpy are imported here; matplotlib is imported in the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel

#: ``setup(figure, ax) -> state``: labels, scales and persistent lines (worker thread, once).
Setup = Callable[[object, object], object]
#: ``draw(ax, state)``: put the newest data on the lines (worker thread).
Draw = Callable[[object, object], None]


class LossCanvas(QLabel):
    """A label showing a matplotlib figure rendered off the GUI thread.

    :meth:`draw` queues a redraw; while one renders, newer requests replace each other, so the
    newest data is drawn next and the renders never pile up.
    """

    _rendered = Signal(object)

    def __init__(self, setup: Setup, *, figsize=(3.5, 2.2), dpi: int = 100,
                 figure_kwargs: dict | None = None) -> None:
        super().__init__()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(int(figsize[1] * dpi * 0.75))
        self._setup = setup
        self._figsize, self._dpi = figsize, dpi
        self._figure_kwargs = dict(figure_kwargs or {})
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loss-canvas")
        self._figure = self._agg = self.ax = self._state = None
        self._busy = False
        self._pending: Draw | None = None
        self._future = None
        self.renders = 0
        self.render_thread: str | None = None  # the thread that drew the last picture
        self.last_error: BaseException | None = None
        self._rendered.connect(self._show)

    def draw(self, draw: Draw) -> None:
        """Redraw with ``draw(ax, state)`` in the worker (the newest request wins)."""
        if self._busy:
            self._pending = draw
            return
        self._busy = True
        self._future = self._executor.submit(self._render, draw)

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the render in flight has finished (tests, screenshots)."""
        if self._future is not None:
            self._future.result(timeout=timeout)

    # -- worker thread -------------------------------------------------------------------------
    def _render(self, draw: Draw) -> None:
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
            self.setText(f"loss plot failed: {result}")
        else:
            h, w = result.shape[:2]
            image = QImage(result.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
            self.setPixmap(QPixmap.fromImage(image))
            self.renders += 1
        if self._pending is not None:
            draw, self._pending = self._pending, None
            self.draw(draw)
