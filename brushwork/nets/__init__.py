"""Feed-forward networks (plain torch.nn.Modules) trained by brushwork on its VGG16 encoder."""
