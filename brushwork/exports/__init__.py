"""Export of the default pipeline to portable graphs (ONNX) and the onnxruntime backend that runs them."""
