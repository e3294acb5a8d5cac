"""Small helpers shared by rooms (image grids, GIFs)."""
