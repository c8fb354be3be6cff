"""openvino-xai 1.1's black-box methods."""
