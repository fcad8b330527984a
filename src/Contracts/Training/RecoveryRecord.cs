namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>One failure the run recovered from: what failed, at which step, back to which checkpoint, and how long it took.</summary>
[GenerateSerializer, Immutable, Alias("RecoveryRecord")]
public sealed record RecoveryRecord(
    [property: Id(0)] long FailedAtStep,
    [property: Id(1)] long ResumedFromStep,
    [property: Id(2)] string Cause,
    [property: Id(3)] DateTimeOffset DetectedAt,
    [property: Id(4)] double SecondsToResume);
