# Continues the caller's trace: TRACEPARENT/TRACESTATE (W3C trace context, set by Assay) are the parent of span
# "traced-example" and its child "work". The spans go as OTLP/JSON to $ASSAY_SPANS_PATH, never over the network.
import json, os
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator


def value(v):
    if isinstance(v, bool): return {"boolValue": v}
    if isinstance(v, int): return {"intValue": str(v)}
    if isinstance(v, float): return {"doubleValue": v}
    if isinstance(v, (list, tuple)): return {"arrayValue": {"values": [value(x) for x in v]}}
    return {"stringValue": str(v)}


def attrs(a):
    return [{"key": k, "value": value(v)} for k, v in (a or {}).items()]


def otlp(s):
    c = s.get_span_context()
    out = {"traceId": f"{c.trace_id:032x}", "spanId": f"{c.span_id:016x}"}
    if s.parent: out["parentSpanId"] = f"{s.parent.span_id:016x}"
    if c.trace_state: out["traceState"] = c.trace_state.to_header()
    status = {"code": s.status.status_code.value}
    if s.status.description: status["message"] = s.status.description
    return {**out, "name": s.name, "kind": s.kind.value + 1, "startTimeUnixNano": str(s.start_time),
            "endTimeUnixNano": str(s.end_time), "attributes": attrs(s.attributes), "status": status}


class OtlpJsonFileExporter(SpanExporter):
    """Keeps the finished spans; at shutdown writes them as one ExportTraceServiceRequest (hex ids)."""

    def __init__(self, path):
        self.path, self.spans = path, []

    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        if not self.path or not self.spans: return
        scopes = {}  # one provider, so one resource
        for s in self.spans:
            sc = s.instrumentation_scope
            scope = {"name": sc.name, **({"version": sc.version} if sc.version else {})}
            scopes.setdefault(json.dumps(scope), {"scope": scope, "spans": []})["spans"].append(otlp(s))
        resource = {"attributes": attrs(self.spans[0].resource.attributes)}
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "w") as f:
            json.dump({"resourceSpans": [{"resource": resource, "scopeSpans": list(scopes.values())}]}, f)


carrier = {k.lower(): os.environ[k] for k in ("TRACEPARENT", "TRACESTATE") if os.environ.get(k)}
parent = TraceContextTextMapPropagator().extract(carrier)
provider = TracerProvider(resource=Resource.create({"service.name": "assay-example-traced"}),
                          sampler=ParentBased(ALWAYS_ON))
provider.add_span_processor(SimpleSpanProcessor(OtlpJsonFileExporter(os.environ.get("ASSAY_SPANS_PATH"))))
tracer = provider.get_tracer("assay.examples.traced")

with tracer.start_as_current_span("traced-example", context=parent) as root:
    with tracer.start_as_current_span("work") as work:
        total = sum(i * i for i in range(1, 1001))
        work.set_attribute("work.sum_of_squares", total)
        work.set_status(Status(StatusCode.OK))
    root.set_status(Status(StatusCode.OK))
ctx = root.get_span_context()
ids = {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}", "sampled": ctx.trace_flags.sampled}
print(f"trace_id={ids['trace_id']} span_id={ids['span_id']} sampled={str(ids['sampled']).lower()}", flush=True)
provider.shutdown()

if os.environ.get("ASSAY_RESULT_PATH"):
    with open(os.environ["ASSAY_RESULT_PATH"], "w") as f:
        json.dump({"metric": "sum_of_squares", "value": total, **ids}, f)
