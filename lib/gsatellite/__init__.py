"""gsatellite: a personal job scheduler for shared frontend machines."""

__version__ = "0.5.0"
