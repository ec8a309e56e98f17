"""The SAM3 prompt helper: candidate prompts per class, and jobs that score them against ground truth."""
