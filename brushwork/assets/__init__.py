"""Shipped assets and where they live: encoder weights, cache folder, built-in styles and samples, .brush files, models/ and data/."""
