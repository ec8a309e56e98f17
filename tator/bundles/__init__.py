"""The one checked zip bundle format of recipes and cascades: `manifest.json` + data-only assets."""
