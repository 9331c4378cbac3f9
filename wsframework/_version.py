"""The version of wsframework (the same as in pyproject.toml).

In a module of its own so that the command line can print it without importing the top-level
package, which re-exports everything and which no module of the library imports.
"""

__version__ = "0.1.0.dev0"
