"""ONNX export with a parity gate, and prediction with ONNX Runtime alone."""
