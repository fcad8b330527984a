using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>A published version: where its weights came from, how well they did, and how inference cuts it.</summary>
/// <param name="Step">The run's completed steps when it was published.</param>
/// <param name="Stages">Inference pipeline stages (one stage grain each).</param>
/// <param name="Revision">Changes with every publish: inference stages holding another revision reload.</param>
[GenerateSerializer, Immutable, Alias("ModelVersionInfo")]
public sealed record ModelVersionInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] string RunId,
    [property: Id(2)] long Step,
    [property: Id(3)] double? LastLoss,
    [property: Id(4)] double? ValidationLoss,
    [property: Id(5)] DateTimeOffset PublishedAt,
    [property: Id(6)] TrainingRunSpec Spec,
    [property: Id(7)] int VocabularySize,
    [property: Id(8)] long ParameterCount,
    [property: Id(9)] int Stages,
    [property: Id(10)] long Revision);
