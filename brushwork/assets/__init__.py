"""Shipped data only: the trained networks and their model cards (models/), the built-in styles and sample photos
(data/). The code that loads them is in brushwork/loaders/."""
