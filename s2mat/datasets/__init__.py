"""Dataset readers and writers. ``open_dataset(path)`` picks the reader from the path's shape."""
