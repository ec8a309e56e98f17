"""What every detector family shares above its model call: the predict flow and its answer's shape."""
