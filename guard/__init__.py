"""contact_uri guard: watches Twilio Flex workers and alerts when their contact_uri drifts."""
