"""The Kubernetes operator: a ``ModelValidation`` resource validated by a runner Job.

``validate operator`` starts it (kopf). This package's pure parts (``resource``,
``conditions``) import no kopf and no kubernetes client; ``handlers`` does, and is imported
only by the command.
"""

from validate.operator.resource import GROUP, KIND, PLURAL, VERSION

__all__ = ["GROUP", "KIND", "PLURAL", "VERSION"]
