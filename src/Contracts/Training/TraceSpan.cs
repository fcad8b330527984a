namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>One recorded operation: forward, backward, optimizer, send, receive or allreduce, with microsecond times (Unix epoch).</summary>
[GenerateSerializer, Immutable, Alias("TraceSpan")]
public sealed record TraceSpan(
    [property: Id(0)] string Grain,
    [property: Id(1)] string Silo,
    [property: Id(2)] int Stage,
    [property: Id(3)] int Replica,
    [property: Id(4)] int MicroBatch,
    [property: Id(5)] string Op,
    [property: Id(6)] long Step,
    [property: Id(7)] long StartMicroseconds,
    [property: Id(8)] long EndMicroseconds);
