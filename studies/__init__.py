"""Ready-made studies that the `symtune` CLI can launch by name."""
