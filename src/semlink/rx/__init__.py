"""semlink.rx."""
