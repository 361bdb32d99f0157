"""The Kubernetes operator: a ``ModelValidation`` resource validated by a runner Job.

``validate operator`` starts it (kopf). This package's pure parts (``resource``,
``conditions``, ``admission``) import no kopf and no kubernetes client; ``handlers``,
``webhook`` and ``metrics`` (prometheus-client) do, and are imported only by the command.
"""

from validate.operator.resource import GROUP, KIND, PLURAL, VERSION

__all__ = ["GROUP", "KIND", "PLURAL", "VERSION"]
