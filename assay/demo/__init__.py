"""The demo world: a simulated customer-support app and its traffic generator."""
