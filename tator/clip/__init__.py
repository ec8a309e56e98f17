"""CLIP / DINOv3 embeddings and the classifier heads trained on them (safe format, training, active head)."""
