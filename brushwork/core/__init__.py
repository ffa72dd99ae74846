"""Core building blocks: the VGG16 encoder, losses, image I/O, colour, Laplacian pyramid and tiling."""
