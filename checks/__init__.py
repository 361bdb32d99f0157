"""Built-in checks. Each module holds one check class, registered under the
``validate.checks`` entry-point group exactly as a third-party check would be."""

# Lets the registry tell our package from a model repo's own top-level ``checks/`` folder.
__validate_builtin__ = True
