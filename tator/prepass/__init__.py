"""prepass."""
