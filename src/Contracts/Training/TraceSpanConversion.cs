using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>A run's recorded spans as Chrome trace JSON: the one conversion the silo's HTTP endpoint and the client share.</summary>
public static class TraceSpanConversion
{
    public static TraceEvent ToEvent(TraceSpan span)
    {
        ArgumentNullException.ThrowIfNull(span);
        return new TraceEvent(
            span.Grain, span.Silo, span.Stage, span.Replica, span.MicroBatch, span.Op, span.Step,
            span.StartMicroseconds, span.EndMicroseconds);
    }

    public static TraceSpan ToSpan(TraceEvent traceEvent)
    {
        ArgumentNullException.ThrowIfNull(traceEvent);
        return new TraceSpan(
            traceEvent.Grain, traceEvent.Silo, traceEvent.Stage, traceEvent.Replica, traceEvent.MicroBatch, traceEvent.Op,
            traceEvent.Step, traceEvent.StartMicroseconds, traceEvent.EndMicroseconds);
    }

    /// <summary>Writes the spans in Chrome's trace-event format (opens in Perfetto and chrome://tracing).</summary>
    public static void WriteChromeTrace(IEnumerable<TraceSpan> spans, Stream output)
    {
        ArgumentNullException.ThrowIfNull(spans);
        ChromeTrace.Write(spans.Select(ToEvent), output);
    }

    /// <summary>The Chrome trace as bytes, for writers that must not block (an HTTP response) or a file.</summary>
    public static byte[] ToChromeTraceJson(IEnumerable<TraceSpan> spans)
    {
        using var buffer = new MemoryStream();
        WriteChromeTrace(spans, buffer);
        return buffer.ToArray();
    }
}
