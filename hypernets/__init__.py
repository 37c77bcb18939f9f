"""Self-tuning networks (STN, MIP) and weight-sharing supernetworks."""
