"""openvino-xai 1.1's white-box methods."""
