"""File input/output: atomic writes, images (.tif/.npy), HDF5 data sets, MDF."""
