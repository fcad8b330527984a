namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>
/// One timed operation of a training step. Times are microseconds on one clock shared by the silos whose events
/// are compared (Unix-epoch microseconds in practice), because Chrome traces count in microseconds.
/// </summary>
/// <param name="Grain">The grain's identity, e.g. <c>stage/run-7/0/1</c>.</param>
/// <param name="MicroBatch">The micro-batch, or <see cref="NoMicroBatch"/> for per-step work (optimizer, all-reduce).</param>
/// <param name="Op">One of <see cref="TraceOps"/>.</param>
public sealed record TraceEvent(
    string Grain,
    string Silo,
    int Stage,
    int Replica,
    int MicroBatch,
    string Op,
    long Step,
    long StartMicroseconds,
    long EndMicroseconds)
{
    public const int NoMicroBatch = -1;

    public long DurationMicroseconds => EndMicroseconds - StartMicroseconds;

    /// <exception cref="ArgumentException">An unknown op, or an end before the start.</exception>
    public void Validate()
    {
        if (!TraceOps.IsKnown(Op))
        {
            throw new ArgumentException($"Unknown trace op '{Op}'; expected one of {string.Join(", ", TraceOps.All)}.");
        }

        if (EndMicroseconds < StartMicroseconds)
        {
            throw new ArgumentException($"The {Op} of stage {Stage}, replica {Replica} ends ({EndMicroseconds} us) before it starts ({StartMicroseconds} us).");
        }
    }
}
