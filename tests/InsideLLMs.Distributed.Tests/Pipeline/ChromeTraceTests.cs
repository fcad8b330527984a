using System.Text.Json;
using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Tests.Pipeline;

public sealed class ChromeTraceTests
{
    [Fact]
    public void Write_TwoSilos_ParsesAsTraceEventJsonWithSiloProcessesStageThreadsAndOneCompleteEventPerOp()
    {
        TraceEvent[] events =
        [
            new("stage/run/0/1", "silo-b", 1, 0, 0, TraceOps.Forward, 7, 1_000_120, 1_000_200),
            new("stage/run/0/0", "silo-a", 0, 0, 0, TraceOps.Forward, 7, 1_000_000, 1_000_100),
            new("stage/run/0/0", "silo-a", 0, 0, 0, TraceOps.Send, 7, 1_000_100, 1_000_110),
            new("stage/run/1/0", "silo-a", 0, 1, TraceEvent.NoMicroBatch, TraceOps.AllReduce, 7, 1_000_300, 1_000_350),
        ];

        using var stream = new MemoryStream();
        ChromeTrace.Write(events, stream);
        using var json = JsonDocument.Parse(stream.ToArray());

        var root = json.RootElement;
        Assert.Equal("ms", root.GetProperty("displayTimeUnit").GetString());
        var all = root.GetProperty("traceEvents").EnumerateArray().ToList();
        var metadata = all.Where(e => e.GetProperty("ph").GetString() == "M").ToList();
        var complete = all.Where(e => e.GetProperty("ph").GetString() == "X").ToList();
        Assert.Equal(all.Count, metadata.Count + complete.Count);

        // Processes are silos in name order; threads are (stage, replica) pairs within their silo.
        Assert.Equal(["process_name 1 0 silo-a", "process_name 2 0 silo-b",
                      "thread_name 1 0 stage 0 / replica 0", "thread_name 1 1000 stage 0 / replica 1", "thread_name 2 1 stage 1 / replica 0"],
            metadata.Select(e => $"{e.GetProperty("name").GetString()} {e.GetProperty("pid").GetInt32()} {e.GetProperty("tid").GetInt32()} {e.GetProperty("args").GetProperty("name").GetString()}"));

        Assert.Equal(["forward m0 forward 1000000 100 1 0", "send m0 send 1000100 10 1 0", "forward m0 forward 1000120 80 2 1", "allreduce allreduce 1000300 50 1 1000"],
            complete.Select(e => $"{e.GetProperty("name").GetString()} {e.GetProperty("cat").GetString()} {e.GetProperty("ts").GetInt64()} {e.GetProperty("dur").GetInt64()} {e.GetProperty("pid").GetInt32()} {e.GetProperty("tid").GetInt32()}"));

        var args = complete[2].GetProperty("args");
        Assert.Equal("stage/run/0/1", args.GetProperty("grain").GetString());
        Assert.Equal(7, args.GetProperty("step").GetInt64());
        Assert.Equal(1, args.GetProperty("stage").GetInt32());
        Assert.Equal(0, args.GetProperty("replica").GetInt32());
        Assert.Equal(0, args.GetProperty("microBatch").GetInt32());
        Assert.Equal(-1, complete[3].GetProperty("args").GetProperty("microBatch").GetInt32());
    }

    [Fact]
    public void Write_NoEvents_WritesAnEmptyTrace()
    {
        using var stream = new MemoryStream();

        ChromeTrace.Write([], stream);

        using var json = JsonDocument.Parse(stream.ToArray());
        Assert.Equal(0, json.RootElement.GetProperty("traceEvents").GetArrayLength());
    }
}
