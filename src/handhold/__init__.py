"""handhold: legible training through an explicit curriculum of data stages."""

__version__ = "0.1.0"
