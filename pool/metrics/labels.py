"""A registry whose every sample carries the same extra labels: `node` and `process` of
a clustered pool process, so that Prometheus, scraping each process of each host, can
tell their series apart and sum them (`sum without (process) (...)`).

Labels are added at exposition, to every collector registered (the pool's collector,
its histograms, the process collector), so no metric definition has to know it runs in
a cluster, and a single process (no node_id) exposes exactly what it did before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric


class LabelledRegistry(CollectorRegistry):
    def __init__(self, labels: Mapping[str, str]) -> None:
        super().__init__(auto_describe=True)
        self.extra = dict(labels)

    def collect(self) -> Iterator[Metric]:
        extra = self.extra
        for metric in super().collect():
            labelled = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            labelled.samples = [
                sample._replace(labels={**sample.labels, **extra}) for sample in metric.samples
            ]
            yield labelled
