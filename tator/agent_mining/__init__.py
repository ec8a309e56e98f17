"""agent_mining."""
