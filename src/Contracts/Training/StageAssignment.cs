namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>What a pipeline stage grain holds: its run, its place in the pipeline and replica ring, and the spec.</summary>
[GenerateSerializer, Immutable, Alias("StageAssignment")]
public sealed record StageAssignment(
    [property: Id(0)] string RunId,
    [property: Id(1)] int Stage,
    [property: Id(2)] int Replica,
    [property: Id(3)] TrainingRunSpec Spec);
