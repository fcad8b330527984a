namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>Where a run stands: what the client's watch and the page show.</summary>
/// <param name="Step">Steps completed.</param>
/// <param name="LastCheckpointStep">Step of the last consistent checkpoint (all stages at that step); -1 when none.</param>
[GenerateSerializer, Immutable, Alias("RunStatus")]
public sealed record RunStatus(
    [property: Id(0)] string RunId,
    [property: Id(1)] RunPhase Phase,
    [property: Id(2)] long Step,
    [property: Id(3)] long TotalSteps,
    [property: Id(4)] double? LastLoss,
    [property: Id(5)] double? ValidationLoss,
    [property: Id(6)] double? TokensPerSecond,
    [property: Id(7)] int Recoveries,
    [property: Id(8)] long LastCheckpointStep,
    [property: Id(9)] string? Error,
    [property: Id(10)] TrainingRunSpec? Spec,
    [property: Id(11)] DateTimeOffset? StartedAt,
    [property: Id(12)] IReadOnlyList<RecoveryRecord> RecoveryLog);
