"""meshsim: a service mesh on your laptop."""

__version__ = "0.1.0"
