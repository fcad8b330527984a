namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>Summed cross-entropy over the scored targets (padding excluded) and how many there were.</summary>
[GenerateSerializer, Immutable, Alias("ValidationResult")]
public sealed record ValidationResult([property: Id(0)] double LossSum, [property: Id(1)] long Targets);
