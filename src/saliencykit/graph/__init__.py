"""Reading and editing OpenVINO graphs: find the target layer and the logits, insert white-box saliency outputs."""
