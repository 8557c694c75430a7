"""One module per `q2c` command group; importing a module registers its commands."""
