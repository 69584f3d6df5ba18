"""newsbeam's Dask runner: ``--runner DaskRunner`` runs the whole graph on Dask distributed.

Beam 2.77's own ``DaskRunner`` gives wrong results on this graph: it hands every output of a
multi-output ParDo (main and dead letters mixed) to every consumer, runs only the last sink,
never closes its client, and re-runs a side input's lineage in every task that reads it.
:class:`NewsbeamDaskRunner` keeps Beam's overrides and its Create and Flatten translations and
does the rest itself. The bugs, their reproductions and when this module can go: docs/dask.md.

Without ``--dask_client_address`` a ``LocalCluster`` of ``--dask_local_workers`` (2) processes
is started and shut down with the run. Metrics are not reported (``summary.json`` has the counts).
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import threading
import uuid
from typing import Any

from apache_beam import pvalue
from apache_beam.metrics.metric import MetricResults
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.common import Receiver
from apache_beam.runners.runner import PipelineResult, PipelineRunner, PipelineState

_log = logging.getLogger(__name__)

DASK_NAMES = ("dask", "daskrunner")


class LocalDaskOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--dask_local_workers",
            type=int,
            default=2,
            help="DaskRunner without --dask_client_address: worker processes of the local cluster",
        )


def runner_for(options: PipelineOptions):
    """A runner object for names Beam does not know (``DaskRunner``); None otherwise."""
    name = options.view_as(StandardOptions).runner
    if isinstance(name, str) and name.lower() in DASK_NAMES:
        return NewsbeamDaskRunner()
    return None


# -- the Dask translation ----------------------------------------------------------------


_LOCAL = threading.local()


class _TagReceiver(Receiver):
    def __init__(self, tag: Any, values: list) -> None:
        self.tag = tag
        self.values = values

    def receive(self, windowed_value) -> None:
        self.values.append((self.tag, windowed_value))


class _Receivers(dict):
    """Receivers by output tag (None: main); all append ``(tag, windowed_value)`` to one list."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list = []

    def __missing__(self, tag):
        receiver = self[tag] = _TagReceiver(tag, self.values)
        return receiver


@dataclasses.dataclass
class _DoFnSpec:
    """Everything needed to build a ParDo's invoker on a worker (one picklable object:
    the receivers must be created beside the output handler that feeds them)."""

    fn: Any
    label: str
    window_fn: Any
    args: list
    kwargs: dict
    side_inputs: Any

    def invoker(self):
        import apache_beam as beam
        from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler

        receivers = _Receivers()
        handler = _OutputHandler(
            window_fn=self.window_fn,
            main_receivers=receivers[None],
            tagged_receivers=receivers,
            per_element_output_counter=None,
            output_batch_converter=None,
            process_yields_batches=False,
            process_batch_yields_elements=False,
        )
        invoker = DoFnInvoker.create_invoker(
            DoFnSignature(self.fn),
            handler,
            context=DoFnContext(self.label, state=None),
            side_inputs=self.side_inputs,
            input_args=list(self.args),
            input_kwargs=dict(self.kwargs),
            user_state_context=None,
            bundle_finalizer_param=beam.DoFn.BundleFinalizerParam(),
        )
        return invoker, receivers


def _run_bundle(items, key: str, spec: _DoFnSpec):
    """Run a DoFn over one Dask partition; return ``(tag, value)`` pairs (tag None: main).

    The DoFn is set up once per worker thread and transform (``key``), not once
    per partition: setup() loads models and taxonomies."""
    cache = getattr(_LOCAL, "invokers", None)
    if cache is None:
        cache = _LOCAL.invokers = {}
    if key not in cache:
        invoker, receivers = spec.invoker()
        invoker.invoke_setup()
        cache[key] = (invoker, receivers)
    invoker, receivers = cache[key]
    receivers.values.clear()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    # bags hold plain values (global window), as in Beam's Dask translation
    out = [(tag, wv.value) for tag, wv in receivers.values]
    receivers.values.clear()
    return out


def _tagged_pardo(applied, input_bag, side_inputs, run_token: str):
    """A ParDo over a bag, keeping which output each element went to."""
    from apache_beam.runners.dask.transform_evaluator import get_windowed_value

    transform = applied.transform
    main_input = next(iter(applied.main_inputs.values()))
    window_fn = main_input.windowing.windowfn if hasattr(main_input, "windowing") else None
    spec = _DoFnSpec(
        fn=transform.fn,
        label=transform.label,
        window_fn=window_fn,
        args=list(transform.args),  # side inputs as placeholders, filled per window
        kwargs=dict(transform.kwargs),
        side_inputs=side_inputs,
    )
    key = f"{run_token}/{applied.full_label}"
    return input_bag.map(get_windowed_value, window_fn).map_partitions(_run_bundle, key, spec)


def _select(pairs_bag, tag):
    # a list, not a lazy filter: a persisted partition is read by several consumers
    return pairs_bag.map_partitions(_values_of, tag)


def _values_of(pairs, tag) -> list:
    return [value for t, value in pairs if t == tag]


def _persist(client, bag):
    """Keep a bag read by several consumers on the cluster, as lists (Dask bag partitions
    may be one-shot iterators: the second reader of a persisted iterator sees nothing)."""
    return client.persist(bag.map_partitions(list))


def _stable_key(item) -> bytes:
    """The grouping key as bytes, the same in every worker process (Beam groups by encoded
    keys; ``hash(None)``, the key of every CombineGlobally, is not: docs/dask.md)."""
    return pickle.dumps(item[0], protocol=4)


def _group_by_key(input_bag):
    from apache_beam.runners.dask.transform_evaluator import defenestrate

    def regroup(group):
        _, items = group
        items = list(items)
        return items[0][0], [defenestrate(item[1]) for item in items]

    return input_bag.groupby(_stable_key).map(regroup)


def _consumers(pipeline) -> dict[int, int]:
    """How many transforms read each PCollection (as main or side input), by id."""
    from apache_beam.pipeline import PipelineVisitor

    counts: dict[int, int] = {}

    class Count(PipelineVisitor):
        def visit_transform(self, node) -> None:
            for pcoll in [*node.inputs, *(si.pvalue for si in node.side_inputs)]:
                counts[id(pcoll)] = counts.get(id(pcoll), 0) + 1

    pipeline.visit(Count())
    return counts


def _translate(pipeline, bag_kwargs: dict, client) -> list:
    """Dask bags for every PCollection of ``pipeline``; return the leaf bags (the sinks).

    A PCollection read by several transforms is persisted on the cluster once
    (Dask would otherwise recompute its whole lineage per consumer); a side
    input is computed before its consumer is translated and handed over as a
    list (Beam's translation recomputes the side input's lineage inside every
    task that reads it).
    """
    import apache_beam as beam
    from apache_beam.pipeline import PipelineVisitor
    from apache_beam.runners.dask.overrides import _GroupByKeyOnly
    from apache_beam.runners.dask.transform_evaluator import TRANSLATIONS, Flatten, NoOp
    from apache_beam.transforms.sideinputs import SideInputMap
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.windowed_value import WindowedValue

    consumers = _consumers(pipeline)
    run_token = uuid.uuid4().hex
    bags: dict[Any, Any] = {}
    side_values: dict[int, list] = {}

    def side_input(si):
        key = id(si.pvalue)
        if key not in side_values:
            values = client.compute(bags[si.pvalue]).result()
            side_values[key] = [WindowedValue(v, 0, (GlobalWindow(),)) for v in values]
        return SideInputMap(type(si), si._view_options(), side_values[key])  # noqa: SLF001 - Beam's view

    class Visitor(PipelineVisitor):
        def visit_transform(self, node) -> None:
            inputs = [i for i in node.inputs if not isinstance(i, pvalue.PBegin)]
            input_bags = [bags[i] for i in inputs if i in bags]
            side_inputs = [side_input(si) for si in node.side_inputs] or None
            if type(node.transform) is beam.ParDo:
                pairs = _tagged_pardo(node, input_bags[0], side_inputs, run_token)
                if sum(consumers.get(id(pc), 0) for pc in node.outputs.values()) > 1:
                    pairs = _persist(client, pairs)  # several outputs read: run the DoFn once
                produced = {pcoll: _select(pairs, tag) for tag, pcoll in node.outputs.items()}  # tag None: main
            elif type(node.transform) is _GroupByKeyOnly:
                produced = {pcoll: _group_by_key(input_bags[0]) for pcoll in node.outputs.values()}
            else:
                op = TRANSLATIONS.get(type(node.transform), NoOp)(node, bag_kwargs=bag_kwargs)
                if isinstance(op, Flatten):
                    bag = op.apply(input_bag=input_bags, side_inputs=None)
                else:
                    bag = op.apply(input_bag=input_bags[0] if input_bags else None, side_inputs=side_inputs)
                produced = {pcoll: bag for pcoll in node.outputs.values()}
            for pcoll, bag in produced.items():
                if bag is not None and consumers.get(id(pcoll), 0) > 1:
                    bag = _persist(client, bag)
                bags[pcoll] = bag

    pipeline.visit(Visitor())
    return [bag for pcoll, bag in bags.items() if consumers.get(id(pcoll), 0) == 0 and bag is not None]


@dataclasses.dataclass
class _DaskResult(PipelineResult):
    state_: str

    def __post_init__(self) -> None:
        super().__init__(self.state_)

    def wait_until_finish(self, duration=None) -> str:
        return self._state

    def metrics(self) -> "_NoMetrics":
        """The Dask translation keeps no metrics container: every query is empty
        (the run's counts are in summary.json)."""
        return _NoMetrics()


class _NoMetrics(MetricResults):
    def query(self, filter=None) -> dict:  # noqa: A002 - Beam's signature
        return {self.COUNTERS: [], self.DISTRIBUTIONS: [], self.GAUGES: [], self.STRINGSETS: [],
                self.BOUNDED_TRIES: [], self.HISTOGRAMS: []}


class NewsbeamDaskRunner(PipelineRunner):
    """Run a pipeline on Dask distributed (see the module docstring). Synchronous:
    ``run_pipeline`` returns when every sink is written."""

    def run_pipeline(self, pipeline, options: PipelineOptions) -> PipelineResult:
        import dask.distributed as ddist
        from apache_beam.runners.dask.dask_runner import DaskOptions
        from apache_beam.runners.dask.overrides import dask_overrides

        from pipeline.gcs import configure_emulator

        dask_options = options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)  # noqa: SLF001
        cluster = None
        if not dask_options.get("address") and not dask_options.get("scheduler_file"):
            workers = options.view_as(LocalDaskOptions).dask_local_workers
            cluster = ddist.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            dask_options["address"] = cluster.scheduler_address
        client = ddist.Client(**dask_options)
        try:
            client.run(configure_emulator)  # gs:// on the workers: same storage endpoint as here
            pipeline.replace_all(dask_overrides())
            leaves = _translate(pipeline, bag_kwargs, client)
            futures = client.compute([leaf.count() for leaf in leaves])
            for _ in ddist.as_completed(futures, with_results=True):
                pass  # gathering raises a worker's exception here
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return _DaskResult(PipelineState.DONE)
