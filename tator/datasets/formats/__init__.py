"""Dataset formats: YOLO (bbox and seg), COCO and Qwen JSONL, all read into and written from one model.

`model.DatasetAnnotations` is the hub: every reader returns it and every writer takes it, so any format
converts to any other (YOLO <-> COCO <-> Qwen) without pairwise code. Boxes are pixel xyxy and polygons
pixel xy pairs (see `tator.annotations`); each module converts at its own edge.
"""
