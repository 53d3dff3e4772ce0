"""A run's record: its directory (metadata + episode records), typed metadata, identity."""
