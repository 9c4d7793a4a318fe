"""The service layer: takes snapshots from the edge, asks the core for decisions, and applies them through adapters."""
