"""Engines that compute the statistics where the data is: per-partition partials
(:mod:`validate.engines.partials`), their results (:mod:`validate.engines.results`), and
the Spark engine (:mod:`validate.engines.spark`, the ``spark`` extra). Importing this
package imports none of them."""
