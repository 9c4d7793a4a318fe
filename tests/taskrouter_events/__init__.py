"""POST /taskrouter/events: signatures, event types, bad input, duplicates and ordering."""
