"""Conformance of the guard and the fake TaskRouter API to Twilio's OpenAPI description, checked by Prism."""
