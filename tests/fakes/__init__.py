"""Local stand-ins for the services the guard talks to."""
