"""napari dock widgets (thin: they translate between the GUI and the library)."""
