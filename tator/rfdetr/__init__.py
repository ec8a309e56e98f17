"""rfdetr."""
