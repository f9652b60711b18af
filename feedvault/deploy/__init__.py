"""Running feedvault as a distributed deployment on one machine: its servers and its process recipe."""
