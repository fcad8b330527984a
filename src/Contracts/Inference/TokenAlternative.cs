namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>A candidate next token: its IDs, text, logit, the model's probability and the probability sampling gave it.</summary>
[GenerateSerializer, Immutable, Alias("TokenAlternative")]
public sealed record TokenAlternative(
    [property: Id(0)] int ModelId,
    [property: Id(1)] int SourceId,
    [property: Id(2)] string Text,
    [property: Id(3)] float Logit,
    [property: Id(4)] double Probability,
    [property: Id(5)] double SampledProbability);
