"""The pure core: contact_uri encoding, verdicts and transitions. No Flask, no database, no network."""
