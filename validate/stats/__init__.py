"""Statistics: pure numpy/scipy functions, each tested against a reference implementation."""
