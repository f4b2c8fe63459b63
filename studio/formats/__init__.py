"""Dataset formats: pure converters between files and ``DatasetDoc`` first, load/save last."""
