"""SAM and SAM3 routes: interactive prompts, preload slots, concept prompts and the SAM3 registry."""
