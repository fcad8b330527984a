using System.Text.Json;

namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>
/// Writes trace events in the Chrome trace-event format (the JSON object form) that chrome://tracing and Perfetto
/// open: one process per silo, one thread per "stage s / replica r", one complete ("X") event per operation.
/// </summary>
public static class ChromeTrace
{
    /// <summary>Thread ids are replica x 1000 + stage, so Perfetto sorts replica 0's stages first; P stays far below 1000.</summary>
    public const int ThreadsPerReplica = 1000;

    public static void Write(IEnumerable<TraceEvent> events, Stream output)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(output);
        var list = events.ToList();

        // Process ids 1.. in silo-name order, so the same trace always gets the same ids.
        var pids = list.Select(e => e.Silo).Distinct().Order(StringComparer.Ordinal)
            .Select((silo, index) => (silo, pid: index + 1)).ToDictionary(x => x.silo, x => x.pid);

        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false });
        json.WriteStartObject();
        json.WriteStartArray("traceEvents");
        foreach (var (silo, pid) in pids.OrderBy(p => p.Value))
        {
            WriteMetadata(json, "process_name", pid, 0, silo);
        }

        foreach (var thread in list.Select(e => (pid: pids[e.Silo], e.Stage, e.Replica)).Distinct().Order())
        {
            WriteMetadata(json, "thread_name", thread.pid, ThreadId(thread.Stage, thread.Replica), $"stage {thread.Stage} / replica {thread.Replica}");
        }

        foreach (var e in list.OrderBy(e => e.StartMicroseconds))
        {
            json.WriteStartObject();
            json.WriteString("name", e.MicroBatch == TraceEvent.NoMicroBatch ? e.Op : $"{e.Op} m{e.MicroBatch}");
            json.WriteString("cat", e.Op);
            json.WriteString("ph", "X");
            json.WriteNumber("ts", e.StartMicroseconds);
            json.WriteNumber("dur", e.DurationMicroseconds);
            json.WriteNumber("pid", pids[e.Silo]);
            json.WriteNumber("tid", ThreadId(e.Stage, e.Replica));
            json.WriteStartObject("args");
            json.WriteString("grain", e.Grain);
            json.WriteNumber("step", e.Step);
            json.WriteNumber("stage", e.Stage);
            json.WriteNumber("replica", e.Replica);
            json.WriteNumber("microBatch", e.MicroBatch);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteString("displayTimeUnit", "ms");
        json.WriteEndObject();
    }

    public static int ThreadId(int stage, int replica) => replica * ThreadsPerReplica + stage;

    private static void WriteMetadata(Utf8JsonWriter json, string name, int pid, int tid, string value)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("ph", "M");
        json.WriteNumber("pid", pid);
        json.WriteNumber("tid", tid);
        json.WriteStartObject("args");
        json.WriteString("name", value);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
