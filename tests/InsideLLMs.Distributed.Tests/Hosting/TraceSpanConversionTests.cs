using System.Text.Json;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Tests.Hosting;

public sealed class TraceSpanConversionTests
{
    private static readonly TraceSpan[] Spans =
    [
        new("pipelinestage/r/0/0", "silo-b", 0, 0, 0, TraceOps.Forward, 3, 1_000, 1_250),
        new("pipelinestage/r/0/1", "silo-a", 1, 0, 0, TraceOps.Backward, 3, 1_300, 1_700),
        new("pipelinestage/r/1/0", "silo-b", 0, 1, -1, TraceOps.AllReduce, 3, 1_800, 1_900),
    ];

    [Fact]
    public void ToEvent_KeepsEveryField()
    {
        var e = TraceSpanConversion.ToEvent(Spans[1]);

        Assert.Equal(new TraceEvent("pipelinestage/r/0/1", "silo-a", 1, 0, 0, TraceOps.Backward, 3, 1_300, 1_700), e);
    }

    [Fact]
    public void ToChromeTraceJson_SpansBecomeCompleteEventsWithProcessAndThreadNames()
    {
        using var json = JsonDocument.Parse(TraceSpanConversion.ToChromeTraceJson(Spans));

        var events = json.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        var complete = events.Where(e => e.GetProperty("ph").GetString() == "X").ToList();
        Assert.Equal(3, complete.Count);
        Assert.Equal(["forward m0", "backward m0", "allreduce"], complete.Select(e => e.GetProperty("name").GetString()));
        Assert.Equal([250L, 400L, 100L], complete.Select(e => e.GetProperty("dur").GetInt64()));
        Assert.Equal(1000, complete[2].GetProperty("tid").GetInt32()); // replica 1, stage 0
        Assert.Equal("pipelinestage/r/0/1", complete[1].GetProperty("args").GetProperty("grain").GetString());

        var processes = events.Where(e => e.GetProperty("name").GetString() == "process_name")
            .Select(e => e.GetProperty("args").GetProperty("name").GetString()).ToList();
        Assert.Equal(["silo-a", "silo-b"], processes);
    }

    [Fact]
    public void ToChromeTraceJson_NoSpans_IsAnEmptyTrace()
    {
        using var json = JsonDocument.Parse(TraceSpanConversion.ToChromeTraceJson([]));

        Assert.Equal(0, json.RootElement.GetProperty("traceEvents").GetArrayLength());
    }
}
