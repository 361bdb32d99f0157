"""Built-in checks. Each module holds one check class, registered under the
``validate.checks`` entry-point group exactly as a third-party check would be."""
