"""Data plane: the gateways and the wiring that feeds them from the controllers and processes."""
